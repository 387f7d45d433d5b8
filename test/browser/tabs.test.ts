/**
 * One sync per origin: three tabs of the app share one sync worker (one set of network connections,
 * one writer to IndexedDB); with a leader tab instead of a SharedWorker, closing or freezing the
 * leader mid-sync hands the sync to another tab, which finishes it, and the store verifies; an
 * IndexedDB upgrade from another tab completes while the app is open, and the app says to reload.
 */
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { checkStore, dbName, expectConsistent } from '../helpers/store-check.ts'

let app: AppFixture
let distinct = 0

beforeAll(async () => {
  // Big enough that a sync takes a few seconds on this machine: there is a "mid-sync" to act in.
  app = await startAppFixture({ accounts: 20_000, contracts: 10, slots: 10, seed: 'tabs' }, () => [
    '--metrics',
    '127.0.0.1:0',
  ])
  const seen = new Set<string>()
  genesisStateRoot(app.files.genesis, (h) => seen.add(toHex(h)))
  distinct = seen.size
}, 120_000)

afterAll(() => app?.stop())

/** The serving node's open connections (its metrics endpoint): the browser's only peer. */
async function nodeConnections(): Promise<number> {
  const text = await (await fetch(app.node.ready.metrics!)).text()
  return Number(
    text
      .split('\n')
      .find((l) => l.startsWith('rootsync_connections '))
      ?.split(' ')[1],
  )
}

/** Every worker target of the browser, by type (the DevTools protocol sees shared ones too). */
async function workerTargets(page: Page): Promise<{ shared: number; dedicated: number }> {
  const cdp = await page.context().newCDPSession(page)
  const { targetInfos } = (await cdp.send('Target.getTargets')) as { targetInfos: { type: string }[] }
  await cdp.detach()
  return {
    shared: targetInfos.filter((t) => t.type === 'shared_worker').length,
    dedicated: targetInfos.filter((t) => t.type === 'worker').length,
  }
}

const progressOf = async (page: Page) =>
  Number(
    await page
      .getByRole('progressbar', { name: 'State sync' })
      .getAttribute('aria-valuenow', { timeout: 1000 })
      .catch(() => 0),
  )

async function openTabs(browser: BrowserContext, n: number, query = ''): Promise<Page[]> {
  const pages: Page[] = []
  for (let i = 0; i < n; i++) {
    const p = await browser.newPage()
    await p.goto(`${app.url}${query}`)
    pages.push(p)
  }
  return pages
}

/**
 * Freezes `page` and its workers: no task of theirs runs. The DevTools protocol's
 * `Page.setWebLifecycleState` is sent as a browser would, but headless Chromium keeps a page it
 * considers visible running (timers still fire: it cannot be hidden here), so the page's and its
 * dedicated workers' JavaScript is also paused with the debugger — the effect of a real freeze.
 * `thaw()` resumes the page only: a leader that lost its lock must end its worker without letting
 * it run again (a worker it keeps stays paused, and the test sees it).
 */
async function freeze(page: Page): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' })
  const { targetInfos } = (await cdp.send('Target.getTargets')) as {
    targetInfos: { type: string; targetId: string; url: string }[]
  }
  const mine = new Set(page.workers().map((w) => w.url()))
  let id = 1
  for (const t of targetInfos.filter((t) => t.type === 'worker' && mine.has(t.url))) {
    const { sessionId } = (await cdp.send('Target.attachToTarget', {
      targetId: t.targetId,
      flatten: false,
    })) as {
      sessionId: string
    }
    for (const method of ['Debugger.enable', 'Debugger.pause'])
      await cdp.send('Target.sendMessageToTarget', {
        sessionId,
        message: JSON.stringify({ id: id++, method }),
      })
  }
  await cdp.send('Debugger.enable')
  await cdp.send('Debugger.pause')
  return async () => {
    await cdp.send('Debugger.resume')
    await cdp.send('Page.setWebLifecycleState', { state: 'active' })
  }
}

/**
 * A tab's sync workers: its dedicated workers but the store-writer that a sync worker starts for its
 * IndexedDB transactions (a helper thread of that one sync, listed by Playwright as another worker).
 */
const syncWorkers = (p: Page) => p.workers().filter((w) => !w.url().includes('idb-writer'))

/** The tab running the sync worker (leader mode: only the leader has a dedicated worker). */
const leaderOf = (pages: Page[]) => pages.filter((p) => !p.isClosed() && syncWorkers(p).length > 0)

/** `n` tabs of a fresh browser sharing by leader, once a follower shows the sync under way. */
async function leaderTabsMidSync(n: number): Promise<{ tabs: Page[]; leader: Page }> {
  const tabs = await openTabs(await app.freshBrowser(), n, '?sharing=leader')
  await expect.poll(() => leaderOf(tabs).length, { timeout: 30_000 }).toBe(1)
  const leader = leaderOf(tabs)[0]!
  const follower = tabs.find((t) => t !== leader)!
  await expect.poll(() => progressOf(follower), { timeout: 60_000, interval: 20 }).toBeGreaterThan(5)
  expect(await follower.getByTestId('synced').count()).toBe(0) // still mid-sync
  return { tabs, leader }
}

const expectSynced = (pages: Page[]) =>
  Promise.all(
    pages.map((p) =>
      expect
        .poll(() => p.getByTestId('synced-root').textContent(), { timeout: 90_000 })
        .toBe(app.genesisRoot),
    ),
  )

describe('three tabs, one sync', () => {
  it('a SharedWorker serves every tab: one sync worker, no dedicated one, every tab sees the sync finish', async () => {
    const tabs = await openTabs(app.browser, 3)
    // Every tab shows the shared sync's progress (a late tab gets the current state replayed).
    for (const t of tabs)
      await expect.poll(() => progressOf(t), { timeout: 60_000, interval: 50 }).toBeGreaterThan(0)
    expect(await workerTargets(tabs[0]!)).toEqual({ shared: 1, dedicated: 0 })
    // One set of network connections for the three tabs (a worker per tab would dial three).
    expect(await nodeConnections()).toBe(1)
    await expectSynced(tabs)
    expect(await workerTargets(tabs[0]!)).toEqual({ shared: 1, dedicated: 0 })
    expectConsistent(await checkStore(tabs[0]!, app), app, distinct)
    for (const t of tabs.slice(1)) await t.close()
  }, 180_000)

  it('leader tabs: closing the leader mid-sync lets another tab finish; the store verifies', async () => {
    const { tabs, leader } = await leaderTabsMidSync(3)
    await leader.close()
    const rest = tabs.filter((t) => t !== leader)
    await expect.poll(() => leaderOf(rest).length, { timeout: 30_000 }).toBe(1)
    await expectSynced(rest)
    expect(leaderOf(rest)).toHaveLength(1)
    expectConsistent(await checkStore(rest[0]!, app), app, distinct)
    await rest[0]!.context().close()
  }, 180_000)

  it('leader tabs: a frozen leader loses the lead to a follower; thawed, it ends its worker; the follower finishes', async () => {
    const { tabs, leader } = await leaderTabsMidSync(2)
    const follower = tabs.find((t) => t !== leader)!
    const thaw = await freeze(leader)
    // The leader's silence hands the lock to the follower, which starts its own worker.
    await expect.poll(() => syncWorkers(follower).length, { timeout: 30_000 }).toBe(1)
    // Thawed, the old leader finds its lock taken and ends its (still paused) worker. A paused
    // worker's open IndexedDB transaction would hold the new one's writes back until it ends.
    await thaw()
    await expect.poll(() => syncWorkers(leader).length, { timeout: 30_000 }).toBe(0)
    await expectSynced([follower])
    expect(syncWorkers(follower)).toHaveLength(1)
    expect(syncWorkers(leader)).toHaveLength(0)
    expectConsistent(await checkStore(follower, app), app, distinct)
    await follower.context().close()
  }, 180_000)

  it('clearing the data in one tab: it syncs again from the checkpoint; another tab is told to reload', async () => {
    const [page] = app.browser.pages().filter((p) => p.url().startsWith(app.url))
    const other = await app.browser.newPage()
    await other.goto(app.url)
    await expect
      .poll(() => other.getByTestId('synced-root').textContent(), { timeout: 30_000 })
      .toBe(app.genesisRoot)
    page!.once('dialog', (d) => d.accept())
    await page!.getByTestId('clear-data').click()
    await expect
      .poll(() => page!.getByTestId('phase').getAttribute('data-phase'), { timeout: 30_000, interval: 20 })
      .not.toBe('synced')
    await expect
      .poll(() => other.getByTestId('sync-error').textContent(), { timeout: 30_000 })
      .toContain('STORE_VERSION_CHANGED')
    await expect
      .poll(() => page!.getByTestId('phase').getAttribute('data-phase'), { timeout: 90_000 })
      .toBe('synced')
    expectConsistent(await checkStore(page!, app), app, distinct)
    await other.close()
  }, 180_000)

  it('an upgrade of the database in another tab completes while the app is open; the app says to reload', async () => {
    const [page] = app.browser.pages().filter((p) => p.url().startsWith(app.url))
    await expect
      .poll(() => page!.getByTestId('synced-root').textContent(), { timeout: 30_000 })
      .toBe(app.genesisRoot)
    const other = await app.browser.newPage()
    await other.goto(`${app.url}missing-page-of-the-same-origin`)
    const upgraded = await other.evaluate(
      (name) =>
        new Promise<number>((resolve, reject) => {
          const r = indexedDB.open(name, 1000)
          r.onsuccess = () => {
            r.result.close()
            resolve(r.result.version)
          }
          r.onerror = () => reject(r.error)
        }),
      dbName(app),
    )
    expect(upgraded).toBe(1000)
    await expect
      .poll(() => page!.getByTestId('sync-error').textContent(), { timeout: 30_000 })
      .toContain('STORE_VERSION_CHANGED')
  }, 60_000)
})
