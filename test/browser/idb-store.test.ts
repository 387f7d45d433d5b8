/**
 * The packed IndexedDB node store in real headless Chromium: a sync into it (with a corrupting peer
 * alongside an honest one), a reopen as after a reload, and an integrity walk over what was stored.
 */
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchBrowser } from '../helpers/browser.ts'
import { servePage } from '../store/page-server.ts'

let browser: BrowserContext
let closeServer: (() => void) | undefined
let url: string

beforeAll(async () => {
  ;({ url, close: closeServer } = await servePage('test/browser/idb-store.page.ts'))
  browser = await launchBrowser()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  closeServer?.()
})

describe('IndexedDB node store (packed) in Chromium', () => {
  it('a sync stores every node verified, in few records, and all of it survives a reopen', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await page.waitForFunction(() => (window as { __result?: unknown }).__result !== undefined, null, {
      timeout: 60_000,
    })
    const r = (await page.evaluate(() => (window as { __result?: unknown }).__result)) as Record<
      string,
      unknown
    >
    expect(r.error, String(r.error)).toBeUndefined()
    expect(r.syncedRoot).toBe(r.root)
    expect(r.sizeAfterSync).toBe(r.sourceNodes)
    expect(r.sizeAfterReopen).toBe(r.sourceNodes)
    expect(r.verified).toBe(r.sourceNodes)
    expect(r.mismatches).toBe(0)
    expect(r.absent).toEqual([false, true])
    expect(r.badFromCorrupt).toBeGreaterThan(0)
    expect(r.prefixTwin).toEqual({ get: null, has: [false] })
    expect(r.promoted as number).toBeGreaterThan(0)
    // Pruning after an incremental sync to a newer root: only B's nodes remain, and B verifies.
    const c = r.compacted as { kept: number; dropped: number; bytes: number }
    expect(r.sizeBeforeCompact as number).toBeGreaterThan(r.sourceNodes as number)
    expect(c.dropped).toBeGreaterThan(0)
    expect(c.kept).toBe(r.liveB)
    expect(r.liveBAfterReopen).toBe(r.liveB)
    expect(r.sizeAfterCompactReopen).toBe(r.liveB)
    expect(c.bytes).toBeLessThan(r.bytesBeforeCompact as number)
    expect(r.rootAGone).toBe(true)
    // Packed: far fewer records than nodes.
    expect(r.packRecords as number).toBeLessThan((r.sourceNodes as number) / 20)
  }, 90_000)
})
