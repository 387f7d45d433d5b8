/**
 * Where the Chromium that the browser tests drive lives: one lookup for `npm test`'s setup
 * (scripts/setup.mjs) and the tests themselves (test/helpers/browser.ts). Plain Node, no
 * dependencies: it runs before any are installed.
 *
 * CHROMIUM_PATH wins when set; otherwise Debian's `chromium` on PATH. playwright-core cannot
 * download browsers on this machine, so a missing one is reported with how to get it.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** How to get Chromium, for a message that stops a run. */
export const CHROMIUM_HELP = [
  'The browser tests need Chromium. Either:',
  '  - on Debian, install its package: sudo apt-get update && sudo apt-get install -y chromium',
  '    (on Ubuntu, where Chromium is a snap: sudo snap install chromium, then the next line with',
  '    CHROMIUM_PATH=/snap/bin/chromium), or',
  '  - point at a Chromium or Chrome you have: CHROMIUM_PATH=/path/to/chromium npm test',
].join('\n')

const executable = (path) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * The Chromium executable, or why there is none: `{ path }` or `{ error }` (CHROMIUM_PATH set to
 * something that is not an executable file, or no `chromium` on PATH).
 */
export function findChromium(env = process.env) {
  if (env.CHROMIUM_PATH) {
    return executable(env.CHROMIUM_PATH)
      ? { path: env.CHROMIUM_PATH }
      : { error: `CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file` }
  }
  const path = onPath('chromium', env)
  return path ? { path } : { error: 'no chromium on PATH and CHROMIUM_PATH is not set' }
}

/** The executable `name` in a directory of PATH (like `command -v`), or undefined. */
export function onPath(name, env = process.env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name)
  }
  return undefined
}
