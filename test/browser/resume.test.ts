/**
 * Reload mid-sync: the worker dies with the page; the next one resumes from what IndexedDB holds
 * instead of starting over, says so, and ends with the verified root.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { checkStore, expectConsistent } from '../helpers/store-check.ts'

let app: AppFixture
let browser: BrowserContext
let url: string
let root: string
let total = 0

beforeAll(async () => {
  app = await startAppFixture({ accounts: 40_000, contracts: 20, slots: 20, seed: 'resume' })
  ;({ browser, url, genesisRoot: root } = app)
  genesisStateRoot(app.files.genesis, () => total++)
}, 120_000)

afterAll(() => app?.stop())

describe('reload mid-sync', () => {
  it('resumes from IndexedDB without starting over and ends with the verified root', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    const bar = page.getByRole('progressbar', { name: 'State sync' })
    await expect
      .poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(5)
    expect(await page.getByTestId('synced').count()).toBe(0) // still mid-sync
    await page.reload()
    await expect.poll(() => page.getByTestId('resumed').count(), { timeout: 30_000, interval: 20 }).toBe(1)
    await expect.poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 }).toBe(root)
    const num = (re: RegExp, t: string | null) => Number(re.exec(t ?? '')?.[1]?.replace(/,/g, ''))
    const resumedFrom = num(/Resumed from ([\d,]+) nodes/, await page.getByTestId('resumed').textContent())
    const downloaded = num(/\(([\d,]+) nodes downloaded in/, await page.getByTestId('synced').textContent())
    expect(resumedFrom).toBeGreaterThan(0)
    expect(downloaded).toBeGreaterThan(0)
    expect(downloaded).toBeLessThan(total)
  }, 180_000)

  it('a browser killed mid-sync (SIGKILL) resumes on restart; the store is consistent and ends complete', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-killed-'))
    let ctx = await launchBrowser({ userDataDir: dir })
    let page = await ctx.newPage()
    await page.goto(url)
    const bar = page.getByRole('progressbar', { name: 'State sync' })
    await expect
      .poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(10)
    expect(await page.getByTestId('synced').count()).toBe(0)
    // Every process of this browser, killed at once: no unload, no IndexedDB shutdown.
    execFileSync('pkill', ['-KILL', '-f', dir])
    await ctx.close().catch(() => {})
    ctx = await launchBrowser({ userDataDir: dir })
    page = await ctx.newPage()
    await page.goto(url)
    await expect.poll(() => page.getByTestId('resumed').count(), { timeout: 30_000 }).toBe(1)
    await expect.poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 }).toBe(root)
    const distinct = new Set<string>()
    genesisStateRoot(app.files.genesis, (h) => distinct.add(toHex(h)))
    expectConsistent(await checkStore(page, app), app, distinct.size)
    await ctx.close()
  }, 180_000)
})
