/** Command-line plumbing shared by the commands. */
import { readFile } from 'node:fs/promises'
import { RootsyncError } from '../../core/errors.ts'
import { type BootstrapConfig, parseBootstrap } from '../../core/light/config.ts'

/** A command-line mistake: printed with the usage text, exit status 2. */
export class UsageError extends Error {}

/** An integer option ≥ `min`, or `dflt` when absent. */
export function intOption(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer ≥ ${min}, got '${v}'`)
  return n
}

/** Reads and parses a JSON file, with errors that name the file and what is wrong. */
export async function readJson(file: string, what: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (e) {
    throw new RootsyncError(
      'FILE_UNREADABLE',
      `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    )
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new RootsyncError('BAD_JSON', `${what} ${file} is not valid JSON: ${(e as Error).message}`)
  }
}

/** Reads a bootstrap.json (written by `rootsync devnet`) and validates every field. */
export async function readBootstrap(file: string): Promise<BootstrapConfig> {
  return parseBootstrap(await readJson(file, 'bootstrap file'))
}
