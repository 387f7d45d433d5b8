/**
 * Warm start: after a completed sync, a reload answers from IndexedDB under the header verified in
 * the earlier visit (its signatures re-checked) — also when no peer is reachable any more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { stopNode } from '../helpers/nodes.ts'

let app: AppFixture
let spender: string

beforeAll(async () => {
  app = await startAppFixture({ accounts: 2000, contracts: 10, slots: 5 })
  spender = toHex(addressOf(app.files.keys.spenders[0]!))
}, 120_000)

afterAll(() => app?.stop())

describe('warm start', () => {
  it('a return visit starts with the last configuration at once, and switches to a changed bootstrap.json without losing a lookup', async () => {
    // Service workers blocked so that page.route sees bootstrap.json.
    const ctx = await app.freshBrowser({ serviceWorkers: 'block' })
    const page = await ctx.newPage()
    await page.goto(app.url)
    await expect
      .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
      .toBe(app.genesisRoot)
    const boot = await (await fetch(`${app.url}bootstrap.json`)).json()
    const extra = {
      name: 'node-x',
      peerId: '12D3KooWLRPJAA5o6YuDzsJNRuVd5zDy2oD3Dn5WEqHGpW5VqU7v',
      addrs: ['/ip4/127.0.0.1/tcp/9/ws/p2p/12D3KooWLRPJAA5o6YuDzsJNRuVd5zDy2oD3Dn5WEqHGpW5VqU7v'],
    }
    await page.route('**/bootstrap.json', (r) =>
      r.fulfill({
        contentType: 'application/json',
        body: JSON.stringify({ ...boot, peers: [...boot.peers, extra] }),
      }),
    )
    await page.goto(`${app.url}?address=${spender}`)
    await expect
      .poll(() => page.getByTestId('balance').textContent(), { timeout: 20_000 })
      .toBe('1000000 ETH')
    await expect
      .poll(() => page.locator(`[data-peer-id="${extra.peerId}"]`).count(), { timeout: 20_000 })
      .toBe(1)
    expect(await page.getByTestId('lookup-error').count()).toBe(0)
    await ctx.close()
  }, 120_000)

  it('a reload after the sync answers from local state at once; with every peer gone it still does, and says it is offline', async () => {
    const page = await app.browser.newPage()
    await page.goto(app.url)
    await expect
      .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
      .toBe(app.genesisRoot)

    await page.goto(`${app.url}?address=${spender}`)
    await expect.poll(() => page.getByTestId('source').textContent(), { timeout: 20_000 }).toBe('local state')
    expect(await page.getByTestId('balance').textContent()).toBe('1000000 ETH')
    const mark = await page.evaluate(
      () => (performance.getEntriesByName('rootsync:first-verified-balance')[0] as PerformanceMark).detail,
    )
    expect(mark).toMatchObject({ source: 'local', header: { stateRoot: app.genesisRoot } })

    // The read above cached its proof path: the next visit answers from it, verified again.
    await page.goto(`${app.url}?address=${spender}`)
    await expect.poll(() => page.getByTestId('cached').count(), { timeout: 20_000 }).toBe(1)
    expect(await page.getByTestId('balance').textContent()).toBe('1000000 ETH')

    await stopNode(app.node, 'SIGKILL')
    await page.goto(`${app.url}?address=${spender}`)
    await expect.poll(() => page.getByTestId('source').textContent(), { timeout: 20_000 }).toBe('local state')
    expect(await page.getByTestId('verified-number').textContent()).toBe('0')
    expect(await page.getByTestId('synced-root').textContent()).toBe(app.genesisRoot)
    await expect
      .poll(() => page.getByTestId('phase').getAttribute('data-phase'), { timeout: 20_000 })
      .toBe('offline')
    expect(await page.getByTestId('phase-detail').textContent()).toMatch(/answering from the state stored/)
    // Absence is proven from local state too.
    await page.getByLabel('Address', { exact: true }).fill(`0x${'cd'.repeat(20)}`)
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect.poll(() => page.getByTestId('absent').count(), { timeout: 20_000 }).toBe(1)
    // Tabs of an origin share one sync: the next case's page must not join this one's.
    await page.close()
  }, 120_000)

  it('a tampered stored head no longer verifies and is ignored, not trusted', async () => {
    // Flip a byte of the stored head in IndexedDB, then reload: the client falls back to the
    // checkpoint and, with no peer left, has no verified header and answers nothing.
    const page = await app.browser.newPage()
    await page.goto(app.url)
    const tampered = await page.evaluate(async () => {
      const dbs = await indexedDB.databases()
      const name = dbs.find((d) => d.name?.startsWith('rootsync-'))!.name!
      const db = await new Promise<IDBDatabase>((res, rej) => {
        const r = indexedDB.open(name)
        r.onsuccess = () => res(r.result)
        r.onerror = () => rej(r.error)
      })
      const tx = db.transaction('meta', 'readwrite')
      const store = tx.objectStore('meta')
      const v = await new Promise<Uint8Array>((res) => {
        const r = store.get('light/head')
        r.onsuccess = () => res(r.result)
      })
      if (!v) return false
      const bad = new Uint8Array(v)
      bad[bad.length - 5]! ^= 0xff
      store.put(bad, 'light/head')
      await new Promise((r) => (tx.oncomplete = r))
      db.close()
      return true
    })
    expect(tampered).toBe(true)
    await page.reload()
    await expect
      .poll(() => page.getByTestId('phase').getAttribute('data-phase'), { timeout: 20_000 })
      .toBe('offline')
    expect(await page.getByTestId('verified-number').count()).toBe(0)
  }, 60_000)
})
