/**
 * The `rootsync` CLI as the integration tests run it, as a separate process.
 *
 * `bin/rootsync.js` (the package's executable) loads the TypeScript sources through tsx's loader:
 * every start transpiles and resolves each module through loader hooks, about 2 s of CPU. The tests
 * start the CLI some hundred times (each `rootsync serve` node, each `sync`, `recover`, `verify`…),
 * so they run the same sources bundled once into one JavaScript file (`CLI`): the same code and the
 * same command line, without the loader's start-up cost. Dependencies stay external (loaded from
 * node_modules as the executable loads them). Test serving scripts (corrupt-serve.ts) are bundled the
 * same way (`scriptArgv`). `ROOTSYNC_TEST_BIN=1` runs `bin/rootsync.js` (and scripts through tsx) instead.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The package's executable. */
export const BIN = join(ROOT, 'bin', 'rootsync.js')

/** What the CLI bundle is made of: its sources and the installed dependencies' versions (and where). */
const CLI_INPUTS = ['src', 'package-lock.json', 'tsconfig.json']

/**
 * A short hash of the files at `inputs` (paths in the repository; directories walked in name order)
 * and `salt`: the name of a build made from them (see `moveIntoPlace`).
 */
export function sourcesHash(inputs: string[], salt = ''): string {
  const h = createHash('sha256').update(salt).update('\0')
  const add = (path: string) => {
    if (!existsSync(path)) return
    if (statSync(path).isDirectory()) for (const name of readdirSync(path).sort()) add(join(path, name))
    else h.update(relative(ROOT, path)).update('\0').update(readFileSync(path)).update('\0')
  }
  for (const p of inputs) add(join(ROOT, p))
  return h.digest('hex').slice(0, 16)
}

/**
 * Renames a complete build in `out` to `dir`, where runs look for it: a build interrupted half-way
 * is never used. When another run renamed the same build into place first, that one is used.
 */
export function moveIntoPlace(out: string, dir: string): void {
  try {
    renameSync(out, dir)
  } catch (e) {
    if (!existsSync(dir)) throw e
    rmSync(out, { recursive: true, force: true })
  }
}

/**
 * `entry` (a path in the repository) bundled, once for each state of `inputs` (and of `entry`),
 * outside the repository (a build there would be linted). The bundle sits at the depth of `entry`'s
 * directory (`at`, default that directory) in a directory that links the repository's `node_modules`
 * and `bin`: bare imports resolve to the installed dependencies, and a path a module resolves
 * relative to itself (commands/devnet.ts: `../../../bin/rootsync.js`) reaches the same file as from
 * the sources.
 */
function bundled(entry: string, inputs: string[], at = dirname(entry)): string {
  const name = entry.split('/').at(-1)!.replace(/\.ts$/, '.mjs')
  const dir = join(tmpdir(), `rootsync-bundle-${sourcesHash([...inputs, entry], `${ROOT}\0${entry}`)}`)
  const file = join(dir, at, name)
  if (existsSync(file)) return file
  const out = mkdtempSync(join(tmpdir(), 'rootsync-bundle-build-'))
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'))
  symlinkSync(join(ROOT, 'bin'), join(out, 'bin'))
  buildSync({
    entryPoints: [join(ROOT, entry)],
    outfile: join(out, at, name),
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'error',
  })
  moveIntoPlace(out, dir)
  return file
}

/** The script a test runs as `rootsync` (`node CLI <command> …`): see the file's comment. */
export const CLI = process.env.ROOTSYNC_TEST_BIN
  ? BIN
  : bundled('src/node/cli.ts', CLI_INPUTS, join('src', 'node', 'commands'))

/**
 * A test script (e.g. test/helpers/corrupt-serve.ts, given as an absolute path) as `node` runs it:
 * bundled like the CLI, for the same reason (a serving script is started dozens of times per run),
 * rebuilt when its directory or the sources change. Returns the arguments for `node`; with
 * `ROOTSYNC_TEST_BIN=1`, `--import tsx script` as before.
 */
export function scriptArgv(script: string): string[] {
  if (process.env.ROOTSYNC_TEST_BIN) return ['--import', 'tsx', script]
  const entry = relative(ROOT, script)
  return [bundled(entry, [...CLI_INPUTS, dirname(entry)])]
}

/** Runs the `rootsync` CLI (`CLI`) and collects its output. */
export function runCli(
  args: string[],
  opts: { timeoutMs?: number; killAfterMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? opts.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
