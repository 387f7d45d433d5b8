import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { ether } from '../../src/ui/format.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { CORRUPT_SERVE, stopNode } from '../helpers/nodes.ts'
import { checkerSelfTest, checkStore, expectConsistent } from '../helpers/store-check.ts'

/** Distinct trie nodes and code blobs of the genesis state: what a complete sync stores. */
function stateSize(app: AppFixture): number {
  const hashes = new Set<string>()
  genesisStateRoot(app.files.genesis, (h) => hashes.add(toHex(h)))
  return hashes.size
}

const num = (t: string | null) => Number((t ?? '').trim().split(' ')[0]!.replace(/,/g, ''))

const peerRow = (page: Page, peerId: string) =>
  page.locator(`[data-testid=peer-row][data-transport=websocket][data-peer-id="${peerId}"]`)

async function synced(page: Page, app: AppFixture, timeout = 120_000) {
  await expect.poll(() => page.getByTestId('synced-root').textContent(), { timeout }).toBe(app.genesisRoot)
  await expect.poll(() => page.getByTestId('phase').getAttribute('data-phase')).toBe('synced')
}

describe('faults: three serving nodes, one killed mid-sync; a quota too small', () => {
  let app: AppFixture
  let total = 0

  beforeAll(async () => {
    app = await startAppFixture({ accounts: 40_000, contracts: 20, slots: 20, seed: 'faults' }, undefined, {
      nodes: 3,
    })
    total = stateSize(app)
  }, 240_000)

  afterAll(() => app?.stop())

  it('a node SIGKILLed mid-sync: the sync finishes from the other two, the peers table shows which one failed, and lookups answer from the stored state', async () => {
    const page = await (await app.freshBrowser()).newPage()
    await page.goto(app.url)
    const victim = app.nodes[1]!
    const others = app.nodes.filter((n) => n !== victim)
    const bar = page.getByRole('progressbar', { name: 'State sync' })
    // Mid-sync, with the victim serving its share.
    await expect
      .poll(
        async () =>
          Number(await bar.getAttribute('aria-valuenow')) > 10 &&
          num(await peerRow(page, victim.ready.peerId).getByTestId('peer-served').textContent()) > 0,
        { timeout: 120_000, interval: 20 },
      )
      .toBe(true)
    expect(await page.getByTestId('synced').count()).toBe(0)
    await stopNode(victim, 'SIGKILL')

    await synced(page, app)
    // An error may have been shown while the peer died; none is left once synced.
    expect(await page.getByTestId('sync-error').count()).toBe(0)
    expect(await bar.getAttribute('aria-valuenow')).toBe('100')
    // The killed peer: failures counted, or no longer connected (the client keeps polling its peers).
    const dead = peerRow(page, victim.ready.peerId)
    await expect
      .poll(
        async () =>
          num(await dead.getByTestId('peer-failures').textContent()) > 0 ||
          !/^connected/.test((await dead.getByTestId('peer-state').textContent()) ?? ''),
        { timeout: 30_000 },
      )
      .toBe(true)
    for (const n of others) {
      const row = peerRow(page, n.ready.peerId)
      expect(await row.getByTestId('peer-state').textContent()).toBe('connected')
      expect(num(await row.getByTestId('peer-served').textContent())).toBeGreaterThan(0)
      expect(await row.getByTestId('peer-bad').textContent()).toBe('0')
    }

    // Lookups, answered from the local state, match the devnet's genesis.
    const alloc = app.files.genesis.alloc.filter(([, a]) => a.balance > 0n && a.storage.length === 0)
    const sample = [0, 1, 2, 3, 4].map((i) => alloc[Math.floor((i * (alloc.length - 1)) / 4)]!)
    for (const [address, account] of sample) {
      await page.getByLabel('Address', { exact: true }).fill(toHex(address))
      await page.getByRole('button', { name: 'Look up' }).click()
      await expect
        .poll(() => page.getByTestId('balance').textContent(), { timeout: 20_000 })
        .toBe(ether(account.balance.toString()))
      expect(await page.getByTestId('source').textContent()).toBe('local state')
    }

    expectConsistent(await checkStore(page, app), app, total)
  }, 300_000)

  it('a full quota is a clear error in the storage panel; what is stored stays consistent, and Retry completes the sync once space is available', async () => {
    // Service workers blocked: only the sync's IndexedDB uses this origin's (tiny) quota.
    const ctx = await app.freshBrowser({ serviceWorkers: 'block' })
    const page = await ctx.newPage()
    const cdp = await ctx.newCDPSession(page)
    const origin = new URL(app.url).origin
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 400 * 1024 })
    await page.goto(app.url)

    const full = page.getByTestId('store-full')
    await expect.poll(() => full.count(), { timeout: 120_000 }).toBe(1)
    expect(await full.textContent()).toMatch(/Storage is full\..*browser storage is full/s)
    expect(await page.getByTestId('sync-error').textContent()).toMatch(/\(STORE_FULL\)$/)
    expect(await page.getByTestId('synced').count()).toBe(0)
    // Stopped, not retrying on its own: the alert stays and nothing completes.
    await page.waitForTimeout(3000)
    expect(await full.count()).toBe(1)
    expect(await page.getByTestId('synced').count()).toBe(0)
    const partial = await checkStore(page, app)
    expect(partial.entries).toBeGreaterThan(0)
    expect(partial.entries).toBeLessThan(total)
    expect(partial.mismatches, `stored node ${partial.firstMismatch} does not hash to its key`).toBe(0)
    expect(partial.syncedRoot).toBeNull()

    // Space again (no quotaSize: back to the default), then the user retries.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin })
    await full.getByRole('button', { name: 'Retry' }).click()
    await synced(page, app)
    expect(await full.count()).toBe(0)
    expect(await page.getByTestId('sync-error').count()).toBe(0)
    // It continued from what was stored instead of starting over.
    expect(await page.getByTestId('resumed').textContent()).toMatch(/^Resumed from [1-9][\d,]* nodes/)
    expectConsistent(await checkStore(page, app), app, total)
  }, 300_000)
})

describe('faults: a peer serving corrupt nodes', () => {
  let app: AppFixture
  let total = 0

  beforeAll(async () => {
    app = await startAppFixture({ accounts: 5000, contracts: 10, slots: 10, seed: 'corrupt' }, undefined, {
      nodes: 2,
      script: (i) => (i === 1 ? CORRUPT_SERVE : undefined),
    })
    total = stateSize(app)
  }, 240_000)

  afterAll(() => app?.stop())

  it('is shown as penalised (bad replies, banned, lower score) and nothing it sent is stored', async () => {
    const page = await app.browser.newPage()
    await page.goto(app.url)
    await synced(page, app)
    const [honest, liar] = app.nodes as [AppFixture['node'], AppFixture['node']]
    // The liar really served corrupt bytes (it says so, and the client counted them).
    const corrupted = liar.events.filter((e) => e.event === 'corrupted')
    expect(corrupted.length).toBeGreaterThan(0)
    const bad = peerRow(page, liar.ready.peerId)
    const good = peerRow(page, honest.ready.peerId)
    expect(num(await bad.getByTestId('peer-bad').textContent())).toBeGreaterThan(0)
    expect(await bad.getAttribute('data-banned')).toBe('yes')
    expect(await bad.getByTestId('peer-banned').textContent()).toMatch(/do not match the requested hash/)
    expect(await good.getByTestId('peer-bad').textContent()).toBe('0')
    expect(await good.getAttribute('data-banned')).toBe('no')
    expect(num(await good.getByTestId('peer-served').textContent())).toBeGreaterThan(0)
    expect(num(await bad.getByTestId('peer-score').textContent())).toBeLessThan(
      num(await good.getByTestId('peer-score').textContent()),
    )
    expect(await page.getByTestId('sync-error').count()).toBe(0)
    expectConsistent(await checkStore(page, app), app, total)
    // …and that check does catch a stored node that does not hash to its key.
    const self = await checkerSelfTest(page)
    expect(self).toMatchObject({ entries: 2, mismatches: 1 })
  }, 180_000)
})
