/**
 * The example wallet (examples/wallet/, `npm run example:wallet`), served from its own port: it finds
 * the provider by EIP-6963 discovery and shows balances, read through ethers' BrowserProvider, that
 * equal the devnet's — computed here in Node from the genesis (the devnet produces no blocks, so the
 * state the page verifies is the genesis state).
 */
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { type LibFixture, startLibFixture } from '../helpers/lib.ts'

let app: LibFixture
let page: Page
const errors: string[] = []
/** The genesis balances, by lower-case 0x address. */
let balances: Map<string, bigint>

beforeAll(async () => {
  app = await startLibFixture({ seed: 'wallet-example', accounts: 300, contracts: 4, slots: 4 })
  balances = new Map(app.files.genesis.alloc.map(([a, acct]) => [toHex(a), acct.balance]))
  page = await app.browser.newPage()
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
}, 120_000)

afterAll(async () => {
  await app?.stop()
})

/** The balance rows the page shows: address, wei, and the block they were verified at. */
const rows = (p: Page) =>
  p.locator('tr[data-address]').evaluateAll((trs) =>
    trs.map((tr) => {
      const td = tr.querySelector<HTMLElement>('[data-testid=balance]')!
      return { address: (tr as HTMLElement).dataset.address!, wei: td.dataset.wei!, block: td.dataset.block! }
    }),
  )

describe('example wallet', () => {
  it('discovers the provider by EIP-6963 and shows verified balances equal to the devnet’s', async () => {
    await page.goto(app.url)
    await expect.poll(() => page.getByTestId('provider').textContent()).toMatch(/rootsync/)
    await expect.poll(async () => (await rows(page)).length, { timeout: 60_000 }).toBeGreaterThan(0)
    const shown = await rows(page)
    // The known accounts the server lists (the genesis's first few), each with its balance.
    const known: string[] = await fetch(`${app.url}accounts.json`).then((r) => r.json())
    expect(known.length).toBeGreaterThan(0)
    expect(shown.map((r) => r.address).sort()).toEqual(known.map((a) => a.toLowerCase()).sort())
    for (const r of shown) {
      expect(balances.has(r.address), `${r.address} is a genesis account`).toBe(true)
      expect(BigInt(r.wei), r.address).toBe(balances.get(r.address))
      expect(r.block).toBe('0')
    }
    // An address typed in, and one the genesis does not have (proven absent: zero).
    const typed = [...balances.keys()].find((a) => !shown.some((r) => r.address === a))!
    const absent = `0x${'ab'.repeat(20)}`
    for (const a of [typed, absent]) {
      await page.getByTestId('address').fill(a)
      await page.getByRole('button', { name: 'Add' }).click()
    }
    await expect.poll(async () => (await rows(page)).length).toBe(shown.length + 2)
    const after = new Map((await rows(page)).map((r) => [r.address, BigInt(r.wei)]))
    expect(after.get(typed)).toBe(balances.get(typed))
    expect(after.get(absent)).toBe(0n)
    // The status element on the page shows the same verified head.
    await expect
      .poll(() => page.locator('rootsync-status').getByTestId('head-number').textContent())
      .toBe('0')
    expect(errors).toEqual([])
  })
})
