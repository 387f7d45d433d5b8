/**
 * A browser test fixture: a real serving node, a bootstrap file pointing at it, the web app built
 * and served, and Chromium. `stop()` tears all of it down.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { toHex } from '../../src/core/bytes.ts'
import type { DevnetOptions } from '../../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { serveApp } from '../../src/node/static-server.ts'
import { launchBrowser } from './browser.ts'
import { ROOT } from './cli.ts'
import { makeDevnetFiles, type NodeProc, startNode, stopAllNodes } from './nodes.ts'

export interface AppFixture {
  files: ReturnType<typeof makeDevnetFiles>
  node: NodeProc
  genesisHash: string
  genesisRoot: string
  url: string
  browser: BrowserContext
  /** Another browser with an empty profile (no IndexedDB, no service worker); closed by `stop()`. */
  freshBrowser(opts?: Parameters<typeof launchBrowser>[0]): Promise<BrowserContext>
  stop(): Promise<void>
}

/** `serveArgs` are extra `rootsync serve` arguments, e.g. `(f) => ['--produce', f.keysFile]`. */
export async function startAppFixture(
  devnet: Partial<DevnetOptions>,
  serveArgs: (files: ReturnType<typeof makeDevnetFiles>) => string[] = () => [],
): Promise<AppFixture> {
  const files = makeDevnetFiles(devnet)
  const node = await startNode('node-0', join(files.dir, 'node-0'), [
    '--genesis',
    files.genesisFile,
    ...serveArgs(files),
  ])
  const genesisRoot = genesisStateRoot(files.genesis)
  const genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisRoot)))
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
  const server = await serveApp({ dist, bootstrapFile, host: '127.0.0.1', port: 0 })
  const browser = await launchBrowser()
  const extra: BrowserContext[] = []
  return {
    files,
    node,
    genesisHash,
    genesisRoot: toHex(genesisRoot),
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    browser,
    async freshBrowser(opts) {
      const b = await launchBrowser(opts)
      extra.push(b)
      return b
    },
    async stop() {
      for (const b of extra) await b.close().catch(() => {})
      await browser.close()
      server.close()
      await stopAllNodes()
    },
  }
}
