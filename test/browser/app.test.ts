/**
 * The web app in real headless Chromium against a real serving node: the page a user opens from
 * `npm start` shows the devnet's chain and peers.
 */

import { mkdtempSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { serveApp } from '../../src/node/static-server.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { ROOT } from '../helpers/cli.ts'
import { makeDevnetFiles, type NodeProc, startNode, stopAllNodes } from '../helpers/nodes.ts'

let browser: BrowserContext
let server: Server
let url: string
let node: NodeProc
let genesisHash: string
let genesisRoot: string
let spender: string

beforeAll(async () => {
  const files = makeDevnetFiles({ accounts: 500, contracts: 5, slots: 5 })
  node = await startNode('node-0', join(files.dir, 'node-0'), ['--genesis', files.genesisFile])
  genesisRoot = toHex(genesisStateRoot(files.genesis))
  spender = toHex(addressOf(files.keys.spenders[0]!))
  genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis))))
  const bootstrapFile = join(files.dir, 'bootstrap.json')
  writeFileSync(
    bootstrapFile,
    JSON.stringify({
      chainId: files.genesis.chainId,
      genesisHash,
      checkpoint: { number: 0, hash: genesisHash },
      validators: files.genesis.validators.map(toHex),
      peers: [{ name: 'node-0', peerId: node.ready.peerId, addrs: node.ready.addrs }],
      updatedAt: new Date().toISOString(),
    }),
  )
  const dist = mkdtempSync(join(tmpdir(), 'rootsync-dist-'))
  await build({ root: ROOT, logLevel: 'error', build: { outDir: dist, emptyOutDir: true } })
  server = await serveApp({ dist, bootstrapFile, host: '127.0.0.1', port: 0 })
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  browser = await launchBrowser()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  server?.close()
  await stopAllNodes()
})

describe('web app in Chromium', () => {
  it('shows the devnet checkpoint and its peers, with no console errors', async () => {
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(url)
    await expect.poll(() => page.getByTestId('checkpoint').textContent()).toBe(genesisHash)
    expect(await page.getByTestId('chain-id').textContent()).toBe('1337')
    expect(await page.getByText(node.ready.peerId).count()).toBeGreaterThan(0)
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
