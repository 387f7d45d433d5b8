/**
 * An independent check of what the app's worker stored in IndexedDB, run in the app's page (same
 * origin): test/browser/faults.page.ts, bundled once, re-hashes every stored entry and walks the
 * state from its synced root with the integrity walk of `rootsync verify`.
 */
import { join } from 'node:path'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import type { StoreCheck } from '../browser/faults.page.ts'
import type { AppFixture } from './app.ts'
import { ROOT } from './cli.ts'

let checkerJs: Promise<string> | null = null

function checker(): Promise<string> {
  checkerJs ??= build({
    entryPoints: [join(ROOT, 'test/browser/faults.page.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'error',
  }).then((out) => out.outputFiles[0]!.text)
  return checkerJs
}

/** The app's database name (src/client/rootsync-client.ts `dbNameOf`). */
export const dbName = (app: AppFixture) =>
  `rootsync-${app.files.genesis.chainId}-${app.genesisHash.slice(2, 10)}`

interface Checker {
  __checkStore(name: string): Promise<StoreCheck>
  __checkerSelfTest(): Promise<StoreCheck>
}

/** Re-hashes everything the worker stored, from the page. */
export async function checkStore(page: Page, app: AppFixture): Promise<StoreCheck> {
  await page.addScriptTag({ content: await checker() })
  return page.evaluate((name) => (globalThis as unknown as Checker).__checkStore(name), dbName(app))
}

/** The checker itself fails on a database with one corrupted entry. */
export async function checkerSelfTest(page: Page): Promise<StoreCheck> {
  await page.addScriptTag({ content: await checker() })
  return page.evaluate(() => (globalThis as unknown as Checker).__checkerSelfTest())
}

export function expectConsistent(c: StoreCheck, app: AppFixture, total: number) {
  expect(c.entries).toBeGreaterThan(0)
  expect(c.mismatches, `stored node ${c.firstMismatch} does not hash to its key`).toBe(0)
  expect(c.syncedRoot).toBe(app.genesisRoot)
  expect(c.verifyError).toBeNull()
  expect(c.verified).toBe(total)
  expect(c.accounts).toBe(app.files.genesis.alloc.length)
}
