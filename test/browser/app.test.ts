/**
 * The web app in real headless Chromium against a real serving node: what a user sees when opening
 * the page from `npm start` — the chain, the sync, the peers, the storage, verified lookups — and
 * the configuration paths (bootstrap.json, URL parameters, the settings form).
 */
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'

let app: AppFixture
let browser: BrowserContext
let url: string
let spender: string
let contract: { address: string; slot: string; value: string }

beforeAll(async () => {
  app = await startAppFixture({ accounts: 500, contracts: 5, slots: 5 })
  ;({ browser, url } = app)
  spender = toHex(addressOf(app.files.keys.spenders[0]!))
  const [addr, acc] = app.files.genesis.alloc.find(([, a]) => a.storage.length > 0)!
  const [slot, value] = acc.storage[0]!
  contract = { address: toHex(addr), slot: toHex(slot), value: `0x${value.toString(16).padStart(64, '0')}` }
}, 120_000)

afterAll(() => app?.stop())

async function synced(page: Page) {
  await expect
    .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
    .toBe(app.genesisRoot)
}

async function lookUp(page: Page, address: string, slot = '') {
  await page.getByLabel('Address', { exact: true }).fill(address)
  await page.getByLabel(/Storage slot/).fill(slot)
  await page.getByRole('button', { name: 'Look up' }).click()
}

describe('web app in Chromium', () => {
  it('verifies the checkpoint and syncs the whole state in a worker; chain, sync, peers and storage panels show it', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)
    expect(await page.getByTestId('chain-id').textContent()).toBe('1337')
    await synced(page)
    expect(await page.getByTestId('verified-root').textContent()).toBe(app.genesisRoot)
    expect(await page.getByTestId('phase').getAttribute('data-phase')).toBe('synced')
    expect(await page.getByTestId('lag').textContent()).toMatch(/at the peers’ head/)
    const bar = page.getByRole('progressbar', { name: 'State sync' })
    expect(await bar.getAttribute('aria-valuenow')).toBe('100')
    expect(await page.getByTestId('eta').textContent()).toBe('done')
    const nodes = Number((await page.getByTestId('nodes').textContent())!.replace(/,/g, ''))
    expect(nodes).toBeGreaterThan(500)
    // The peer that served it: connected over WebSockets, every node it sent verified.
    const row = page.locator(
      `[data-testid=peer-row][data-peer-id="${app.node.ready.peerId}"][data-transport=websocket]`,
    )
    expect(await row.getByTestId('peer-state').textContent()).toBe('connected')
    expect(
      Number((await row.getByTestId('peer-served').textContent())!.split(' ')[0]!.replace(/,/g, '')),
    ).toBe(
      nodes - 1, // the root came with the probe
    )
    expect(await row.getByTestId('peer-bad').textContent()).toBe('0')
    expect(await row.getByTestId('peer-banned').textContent()).toBe('no')
    // Storage: the nodes the worker stored, the site's usage, and whether persistence was granted.
    expect(await page.getByTestId('store-nodes').textContent()).toMatch(/^\d[\d,]* \(/)
    await expect.poll(() => page.getByTestId('storage-usage').textContent()).toMatch(/ of .* available/)
    await expect.poll(() => page.getByTestId('persisted').textContent()).toMatch(/^(granted|not granted)$/)
    expect(await page.getByTestId('sync-error').count()).toBe(0)
    expect(errors).toEqual([])
  }, 90_000)

  it('lookups: a verified balance and storage slot from local state, an absent account, and clear errors for bad input', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await synced(page)
    await lookUp(page, spender)
    await expect
      .poll(() => page.getByTestId('balance').textContent(), { timeout: 20_000 })
      .toBe('1000000 ETH')
    expect(await page.getByTestId('source').textContent()).toBe('local state')
    expect(await page.getByTestId('lookup-result').textContent()).toContain(app.genesisRoot)
    await lookUp(page, contract.address, contract.slot)
    await expect
      .poll(() => page.getByTestId('storage-value').textContent(), { timeout: 20_000 })
      .toBe(contract.value)
    await lookUp(page, `0x${'ab'.repeat(20)}`)
    await expect.poll(() => page.getByTestId('absent').count(), { timeout: 20_000 }).toBe(1)
    await lookUp(page, '0x12')
    expect(await page.getByTestId('lookup-error').textContent()).toMatch(/40 hex digits/)
    await lookUp(page, spender, '0xzz')
    expect(await page.getByTestId('lookup-error').textContent()).toMatch(/storage slot/)
  }, 90_000)

  it('an address in the URL is answered before the sync completes, by a proof from a peer', async () => {
    // A fresh profile: nothing stored, so the first answer cannot come from local state.
    const ctx = await app.freshBrowser()
    const page = await ctx.newPage()
    await page.goto(`${url}?address=${contract.address}`)
    await expect.poll(() => page.getByTestId('source').textContent(), { timeout: 30_000 }).toMatch(/proof/)
    expect(await page.getByTestId('lookup-result').textContent()).toContain(`from peer node-0`)
    expect(await page.getByTestId('balance').count()).toBe(1)
    const mark = await page.evaluate(
      () => (performance.getEntriesByName('rootsync:first-verified-balance')[0] as PerformanceMark)?.detail,
    )
    expect(mark).toMatchObject({ source: 'proof', address: contract.address })
    await ctx.close()
  }, 60_000)

  it('the served page carries the chain config inline: a first visit verifies a balance without fetching bootstrap.json', async () => {
    // Service workers blocked: page.route cannot see requests a service worker makes.
    const ctx = await app.freshBrowser({ serviceWorkers: 'block' })
    const page = await ctx.newPage()
    let fetched = 0
    await page.route('**/bootstrap.json', (r) => {
      fetched++
      return r.abort()
    })
    await page.goto(`${url}?address=${spender}`)
    await expect
      .poll(() => page.getByTestId('balance').textContent(), { timeout: 30_000 })
      .toBe('1000000 ETH')
    expect(await page.getByTestId('checkpoint').textContent()).toBe(app.genesisHash)
    expect(await page.getByTestId('config-error').count()).toBe(0)
    // The app still asked for a fresh copy (the page may come from a cache): it failed, nothing changed.
    expect(fetched).toBeGreaterThan(0)
    await ctx.close()
  }, 60_000)

  it('says what is wrong when there is no bootstrap information, and takes the configuration from the URL instead', async () => {
    // Service workers blocked: page.route cannot see requests a service worker makes.
    const ctx = await app.freshBrowser({ serviceWorkers: 'block' })
    const page = await ctx.newPage()
    await page.route('**/bootstrap.json', (r) => r.fulfill({ status: 404, body: 'no' }))
    // No config inlined into the page either (as on a host other than our static server).
    await page.route(/\/(\?.*)?$/, async (r) => {
      const res = await r.fetch()
      const body = (await res.text()).replace(
        /<script type="application\/json" id="rootsync-bootstrap">.*?<\/script>/s,
        '',
      )
      await r.fulfill({ response: res, body })
    })
    await page.goto(url)
    await expect.poll(() => page.getByTestId('config-error').textContent()).toMatch(/is the devnet running\?/)
    const q = new URLSearchParams({
      chainId: '1337',
      checkpoint: `0:${app.genesisHash}`,
      validators: app.files.genesis.validators.map(toHex).join(','),
      peers: app.node.ws,
    })
    await page.goto(`${url}?${q}`)
    await synced(page)
    await page.goto(`${url}?${new URLSearchParams({ ...Object.fromEntries(q), checkpoint: '0:0x12' })}`)
    await expect.poll(() => page.getByTestId('config-error').textContent()).toMatch(/^checkpoint: expected/)
  }, 90_000)

  it('a peer reachable only over WebRTC-direct is dialled by the page and bridged to the worker, which syncs from it', async () => {
    const webrtc = app.node.ready.addrs.find((a) => a.includes('/webrtc-direct/'))
    expect(webrtc).toBeDefined()
    const ctx = await app.freshBrowser()
    const page = await ctx.newPage()
    await page.goto(`${url}?${new URLSearchParams({ peers: webrtc! })}`)
    await synced(page)
    const row = page.locator(`[data-testid=peer-row][data-transport=webrtc]`)
    expect(await row.getAttribute('data-peer-id')).toBe(app.node.ready.peerId)
    expect(await row.getByTestId('peer-state').textContent()).toBe('connected')
    expect(
      Number((await row.getByTestId('peer-served').textContent())!.split(' ')[0]!.replace(/,/g, '')),
    ).toBeGreaterThan(500)
    expect(await page.locator('[data-testid=peer-row][data-transport=websocket]').count()).toBe(0)
    await ctx.close()
  }, 90_000)

  it('the settings form validates, saves and restarts with the new peers', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await page.getByText('Settings: checkpoint and peers').click()
    await page.locator('#s-peers').fill('/ip4/127.0.0.1/tcp/1/ws')
    await page.getByRole('button', { name: 'Save and restart' }).click()
    expect(await page.getByTestId('settings-error').textContent()).toMatch(/^peers: .*\/p2p\/<peer id>/)
    await page.locator('#s-peers').fill(app.node.ws)
    await page.getByRole('button', { name: 'Save and restart' }).click()
    await page.waitForLoadState()
    await synced(page)
    expect(await page.evaluate(() => localStorage.getItem('rootsync.settings'))).toContain(
      app.node.ready.peerId,
    )
    await page.getByText('Settings: checkpoint and peers').click()
    await page.getByRole('button', { name: "Use the devnet's defaults" }).click()
    await page.waitForLoadState()
    expect(await page.evaluate(() => localStorage.getItem('rootsync.settings'))).toBeNull()
  }, 90_000)
})
