/**
 * Real headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core
 * (`.ci/run` installs it; `npx playwright install` cannot download browsers here). The flags keep it
 * off the network (this machine refuses outside connections) and quiet.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'
import { CHROMIUM_HELP, findChromium } from '../../scripts/chromium.mjs'

export function chromiumPath(): string {
  const found = findChromium()
  if (found.path === undefined) throw new Error(`Chromium not found (${found.error}).\n${CHROMIUM_HELP}`)
  return found.path
}

/** `userDataDir`: reuse a profile (a browser restarted after a kill); default a fresh one. */
export async function launchBrowser(
  opts: { serviceWorkers?: 'allow' | 'block'; userDataDir?: string } = {},
): Promise<BrowserContext> {
  const { userDataDir, ...rest } = opts
  return chromium.launchPersistentContext(userDataDir ?? mkdtempSync(join(tmpdir(), 'rootsync-chromium-')), {
    ...rest,
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
}
