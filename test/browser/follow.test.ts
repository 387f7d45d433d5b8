/**
 * The app keeps up with a producing devnet: after the first sync, newer heads are verified and their
 * state synced incrementally, and lookups answer against the newer header.
 */

import { mkdtempSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { serveApp } from '../../src/node/static-server.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { ROOT } from '../helpers/cli.ts'
import { makeDevnetFiles, startNode, stopAllNodes } from '../helpers/nodes.ts'

let browser: BrowserContext
let server: Server
let url: string
let client: Libp2p
let peer: PeerClient

beforeAll(async () => {
  const files = makeDevnetFiles({ accounts: 1000, contracts: 10, slots: 5, seed: 'follow' })
  const node = await startNode('producer', join(files.dir, 'node-0'), [
    '--genesis',
    files.genesisFile,
    '--produce',
    files.keysFile,
    '--block-time',
    '500',
    '--txs',
    '5',
  ])
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
  client = await createClientLibp2p()
  peer = new PeerClient(client, multiaddr(node.ws))
  browser = await launchBrowser()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  server?.close()
  peer?.close()
  await client?.stop()
  await stopAllNodes()
})

describe('keeping up with the head', () => {
  it('syncs newer verified heads after the first sync; the shown root is the signed header’s', async () => {
    const page = await browser.newPage()
    await page.goto(url)
    await expect.poll(() => page.getByTestId('phase').textContent(), { timeout: 60_000 }).toBe('synced')
    const text = async () => (await page.getByTestId('synced').textContent()) ?? ''
    const height = (t: string) => Number(/at block\s+(\d+)/.exec(t)?.[1])
    const first = height(await text())
    await expect.poll(async () => height(await text()), { timeout: 30_000 }).toBeGreaterThan(first)
    const now = await text()
    const h = height(now)
    const [signed] = await peer.headers(h, 1)
    // Root and height read together, from one rendering of the synced line.
    expect(now).toContain(toHex(signed!.header.stateRoot))
  }, 120_000)
})
