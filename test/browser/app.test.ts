/**
 * The web app in real headless Chromium against a real serving node: the page a user opens from
 * `npm start` shows the devnet's chain and peers.
 */
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'

let app: AppFixture
let browser: BrowserContext
let url: string
let genesisHash: string
let genesisRoot: string
let spender: string
let peerId: string

beforeAll(async () => {
  app = await startAppFixture({ accounts: 500, contracts: 5, slots: 5 })
  ;({ browser, url, genesisHash, genesisRoot } = app)
  spender = toHex(addressOf(app.files.keys.spenders[0]!))
  peerId = app.node.ready.peerId
}, 120_000)

afterAll(() => app?.stop())

describe('web app in Chromium', () => {
  it('shows the devnet checkpoint and its peers, with no console errors', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(genesisHash)
    expect(await page.getByTestId('chain-id').textContent()).toBe('1337')
    expect(await page.getByText(peerId).count()).toBeGreaterThan(0)
    expect(await page.getByRole('heading', { name: 'Devnet peers' }).isVisible()).toBe(true)
    expect(errors).toEqual([])
  })

  it('a Web Worker verifies the checkpoint and syncs the whole state into IndexedDB, shown with a progress bar', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await expect
      .poll(() => page.getByTestId('synced-root').textContent(), { timeout: 60_000 })
      .toBe(genesisRoot)
    expect(await page.getByTestId('verified-root').textContent()).toBe(genesisRoot)
    expect(await page.getByRole('progressbar', { name: 'State sync' }).getAttribute('aria-valuenow')).toBe(
      '100',
    )
    expect(await page.getByTestId('sync-error').count()).toBe(0)
  }, 90_000)

  it('account lookup: a verified balance with its source and header; bad input gets a clear message', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await expect.poll(() => page.getByTestId('phase').textContent(), { timeout: 60_000 }).toBe('synced')
    await page.getByLabel('Address').fill(spender)
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect
      .poll(() => page.getByTestId('balance').textContent(), { timeout: 20_000 })
      .toBe('1000000 ETH')
    expect(await page.getByTestId('source').textContent()).toBe('local')
    expect(await page.getByTestId('lookup-result').textContent()).toContain(genesisRoot)
    await page.getByLabel('Address').fill(`0x${'ab'.repeat(20)}`)
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect.poll(() => page.getByTestId('absent').count(), { timeout: 20_000 }).toBe(1)
    await page.getByLabel('Address').fill('0x12')
    await page.getByRole('button', { name: 'Look up' }).click()
    expect(await page.getByTestId('lookup-error').textContent()).toMatch(/40 hex digits/)
  }, 90_000)

  it('says clearly when the bootstrap information cannot be loaded', async () => {
    const page = await browser.newPage()
    await page.route('**/bootstrap.json', (r) => r.fulfill({ status: 404, body: 'no' }))
    await page.goto(url)
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Is the devnet running\?/)
  })
})
