/**
 * Reload mid-sync: the worker dies with the page; the next one resumes from what IndexedDB holds
 * instead of starting over, says so, and ends with the verified root.
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
import { serveApp } from '../../src/node/static-server.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { ROOT } from '../helpers/cli.ts'
import { makeDevnetFiles, startNode, stopAllNodes } from '../helpers/nodes.ts'

let browser: BrowserContext
let server: Server
let url: string
let root: string
let total = 0

beforeAll(async () => {
  const files = makeDevnetFiles({ accounts: 40_000, contracts: 20, slots: 20, seed: 'resume' })
  const node = await startNode('node-0', join(files.dir, 'node-0'), ['--genesis', files.genesisFile])
  root = toHex(genesisStateRoot(files.genesis, () => total++))
  const genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis))))
  const bootstrapFile = join(files.dir, 'bootstrap.json')
  writeFileSync(
    bootstrapFile,
    JSON.stringify({
      chainId: files.genesis.chainId,
      genesisHash,
      checkpoint: { number: 0, hash: genesisHash },
      validators: files.genesis.validators.map(toHex),
      peers: [{ name: 'node-0', peerId: node.ready.peerId, addrs: node.ready.addrs }],
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
    const downloaded = Number(
      /\((\d+) nodes in/.exec((await page.getByTestId('synced').textContent()) ?? '')?.[1],
    )
    expect(downloaded).toBeGreaterThan(0)
    expect(downloaded).toBeLessThan(total)
  }, 180_000)
})
