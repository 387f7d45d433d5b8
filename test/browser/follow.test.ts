/**
 * The app keeps up with a producing devnet: after the first sync, newer heads are verified and their
 * state synced incrementally, and lookups answer against the newer header.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { BrowserContext } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'

let app: AppFixture
let browser: BrowserContext
let url: string
let client: Libp2p
let peer: PeerClient

beforeAll(async () => {
  app = await startAppFixture({ accounts: 1000, contracts: 10, slots: 5, seed: 'follow' }, (f) => [
    '--produce',
    f.keysFile,
    '--block-time',
    '500',
    '--txs',
    '40',
  ])
  ;({ browser, url } = app)
  client = await createClientLibp2p()
  peer = new PeerClient(client, multiaddr(app.node.ws))
}, 120_000)

afterAll(async () => {
  peer?.close()
  await client?.stop()
  await app?.stop()
})

describe('keeping up with the head', () => {
  it('syncs newer verified heads after the first sync (the shown root is the signed header’s), and prunes older states', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await expect
      .poll(() => page.getByTestId('phase').getAttribute('data-phase'), { timeout: 60_000 })
      .toBe('synced')
    const text = async () => (await page.getByTestId('synced').textContent()) ?? ''
    const height = (t: string) => Number(/at block\s+(\d+)/.exec(t)?.[1])
    const first = height(await text())
    await expect.poll(async () => height(await text()), { timeout: 30_000 }).toBeGreaterThan(first)
    const now = await text()
    const h = height(now)
    const [signed] = await peer.headers(h, 1)
    // Root and height read together, from one rendering of the synced line.
    expect(now).toContain(toHex(signed!.header.stateRoot))

    // Older states are pruned once they outweigh the live one; the newest state stays whole.
    await expect.poll(() => page.getByTestId('pruned').count(), { timeout: 90_000 }).toBe(1)
    const pruned = (await page.getByTestId('pruned').textContent())!
    const [dropped, kept] = [...pruned.matchAll(/([\d,]+) /g)].map((m) => Number(m[1]!.replace(/,/g, '')))
    expect(dropped).toBeGreaterThan(0)
    expect(kept).toBeGreaterThan(1000)
    const spender = toHex(addressOf(app.files.keys.spenders[0]!))
    await page.getByLabel('Address', { exact: true }).fill(spender)
    await page.getByRole('button', { name: 'Look up' }).click()
    await expect.poll(() => page.getByTestId('source').textContent(), { timeout: 20_000 }).toBe('local state')
    expect(await page.getByTestId('balance').count()).toBe(1)
  }, 180_000)
})
