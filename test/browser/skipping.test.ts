/**
 * The app verifies its head by skipping verification: on a devnet that replaces a validator every
 * few blocks, a first visit's balance is proven under a head far from the checkpoint while only a
 * few light blocks are fetched (not one header per height), and a return visit re-checks the stored
 * head's signatures against its validator set before answering, fetching nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { type AppFixture, producing, startAppFixture } from '../helpers/app.ts'

const ROTATE_EVERY = 8
const HEAD = 48

let app: AppFixture
let spender: string

beforeAll(async () => {
  app = await startAppFixture(
    { accounts: 200, contracts: 0, slots: 0, rotateEvery: ROTATE_EVERY },
    producing(250, 1),
  )
  spender = toHex(addressOf(app.files.keys.spenders[1]!))
  await app.node.waitHead(HEAD, 60_000)
}, 120_000)

afterAll(() => app?.stop())

interface TrustMark {
  from: number
  to: number
  fetched: number
  signatures: number
  source: 'network' | 'store'
}
const trustMark = (page: import('playwright-core').Page) =>
  page.evaluate(
    () => (performance.getEntriesByName('rootsync:trust')[0] as PerformanceMark | undefined)?.detail ?? null,
  ) as Promise<TrustMark | null>

describe('skipping verification in the app', () => {
  it('a first visit proves a balance under a head past several validator-set changes from few light blocks; a reload re-checks the stored head offline', async () => {
    const page = await app.browser.newPage()
    await page.goto(`${app.url}?address=${spender}`)
    await expect.poll(() => page.getByTestId('balance').textContent(), { timeout: 30_000 }).toMatch(/ETH$/)
    const cold = await trustMark(page)
    expect(cold).toMatchObject({ from: 0, source: 'network' })
    // The devnet kept producing: the head verified is at least where it stood before the visit.
    expect(cold!.to).toBeGreaterThanOrEqual(HEAD)
    const changes = Math.floor(cold!.to / ROTATE_EVERY)
    expect(changes).toBeGreaterThanOrEqual(6)
    // Linear in the changes crossed (4 validators: a skip crosses at most 2), not in the height.
    expect(cold!.fetched).toBeLessThanOrEqual(2 * changes + 4)
    expect(cold!.fetched).toBeLessThan(cold!.to / 2)

    await page.reload()
    await expect.poll(() => page.getByTestId('balance').textContent(), { timeout: 30_000 }).toMatch(/ETH$/)
    const warm = await trustMark(page)
    // The stored head and its trust path re-verified from the store: signatures checked, nothing fetched.
    expect(warm).toMatchObject({ source: 'store', fetched: 0 })
    expect(warm!.to).toBeGreaterThanOrEqual(cold!.to)
    expect(warm!.signatures).toBeGreaterThanOrEqual(3)
    await page.close()
  }, 120_000)
})
