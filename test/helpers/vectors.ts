import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** `../shared/vectors` beside the project root (the shared material every checkout has). */
export const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'vectors')

export function readVector(...parts: string[]): string {
  return readFileSync(join(VECTORS, ...parts), 'utf8')
}
