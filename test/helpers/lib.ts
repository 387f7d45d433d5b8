/**
 * Browser tests of the built library (dist-lib/, vite.lib.config.ts): the library built once per
 * state of its sources, and a fixture with a real serving node on a small devnet, the example
 * wallet's server (scripts/serve-wallet.ts: the page, the built library, the devnet's bootstrap.json)
 * on its own port, and Chromium.
 */
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { serveWallet } from '../../scripts/serve-wallet.ts'
import { toHex } from '../../src/core/bytes.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { launchBrowser } from './browser.ts'
import { moveIntoPlace, ROOT, sourcesHash } from './cli.ts'
import {
  type DevnetFiles,
  genesisHashOf,
  makeDevnetFiles,
  type NodeProc,
  startNode,
  stopAllNodes,
  writeNodesBootstrap,
} from './nodes.ts'

/** What the library build reads. */
const LIB_INPUTS = ['src', 'vite.lib.config.ts', 'tsconfig.json', 'package-lock.json']

/**
 * The library, built once for each state of its sources (as app.ts builds the app): into a
 * temporary directory renamed into place when complete. Only read by the tests.
 */
export async function builtLib(): Promise<string> {
  const dir = join(tmpdir(), `rootsync-lib-${sourcesHash(LIB_INPUTS)}`)
  if (existsSync(dir)) return dir
  const out = mkdtempSync(join(tmpdir(), 'rootsync-lib-build-'))
  await build({
    root: ROOT,
    configFile: join(ROOT, 'vite.lib.config.ts'),
    logLevel: 'error',
    build: { outDir: out, emptyOutDir: true, sourcemap: false },
  })
  moveIntoPlace(out, dir)
  return dir
}

export interface LibFixture {
  files: DevnetFiles
  node: NodeProc
  genesisHash: string
  genesisRoot: string
  /** The wallet server's origin (`http://127.0.0.1:<port>/`): the page, /lib/, /bootstrap.json. */
  url: string
  browser: BrowserContext
  stop(): Promise<void>
}

/** One serving node (not producing: its state stays the genesis's) and the wallet server for it. */
export async function startLibFixture(devnet: Parameters<typeof makeDevnetFiles>[0]): Promise<LibFixture> {
  const files = makeDevnetFiles(devnet)
  const node = await startNode('node-0', join(files.dir, 'node-0'), ['--genesis', files.genesisFile])
  // Beside genesis.json, as `rootsync devnet` writes them: the server lists known accounts from it.
  const bootstrapFile = writeNodesBootstrap(files.dir, files, [node])
  const server = await serveWallet({ bootstrapFile, libDir: await builtLib(), port: 0 }).catch(async (e) => {
    await stopAllNodes()
    throw e
  })
  const browser = await launchBrowser()
  return {
    files,
    node,
    genesisHash: genesisHashOf(files),
    genesisRoot: toHex(genesisStateRoot(files.genesis)),
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    browser,
    async stop() {
      await browser.close()
      server.close()
      await stopAllNodes()
    },
  }
}
