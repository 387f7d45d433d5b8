/**
 * A browser test fixture: real serving nodes (one by default) on one devnet genesis, a bootstrap file
 * listing them, the web app built and served, and Chromium. `stop()` tears all of it down.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { BrowserContext } from 'playwright-core'
import { build } from 'vite'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { serveApp } from '../../src/node/static-server.ts'
import { launchBrowser } from './browser.ts'
import { moveIntoPlace, ROOT, sourcesHash } from './cli.ts'
import { makeDevnetFiles, type NodeProc, nodesBootstrap, startNode, stopAllNodes } from './nodes.ts'

export interface AppFixture {
  files: ReturnType<typeof makeDevnetFiles>
  /** The first serving node (`nodes[0]`). */
  node: NodeProc
  /** Every serving node, `node-0` … `node-N-1`, in bootstrap.json's order. */
  nodes: NodeProc[]
  genesisHash: string
  genesisRoot: string
  url: string
  browser: BrowserContext
  /** Another browser with an empty profile (no IndexedDB, no service worker); closed by `stop()`. */
  freshBrowser(opts?: Parameters<typeof launchBrowser>[0]): Promise<BrowserContext>
  stop(): Promise<void>
}

export interface AppFixtureOptions {
  /** How many serving nodes to start on the genesis, each with its own data dir (default 1). */
  nodes?: number
  /** A test serving script for node `i` instead of `rootsync serve` (see nodes.ts `startNode`). */
  script?: (i: number) => string | undefined
}

/**
 * `serveArgs` are extra `rootsync serve` arguments, e.g. `(f) => ['--produce', f.keysFile]`; with
 * several nodes they go to `node-0` only (so at most one producer).
 */
export async function startAppFixture(
  devnet: Parameters<typeof makeDevnetFiles>[0],
  serveArgs: (files: ReturnType<typeof makeDevnetFiles>) => string[] = () => [],
  opts: AppFixtureOptions = {},
): Promise<AppFixture> {
  const files = makeDevnetFiles(devnet)
  const nodes = await Promise.all(
    Array.from({ length: opts.nodes ?? 1 }, (_, i) =>
      startNode(
        `node-${i}`,
        join(files.dir, `node-${i}`),
        ['--genesis', files.genesisFile, ...(i === 0 ? serveArgs(files) : [])],
        { script: opts.script?.(i) },
      ),
    ),
  ).catch(async (e) => {
    await stopAllNodes()
    throw e
  })
  const node = nodes[0]!
  const genesisRoot = genesisStateRoot(files.genesis)
  const genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisRoot)))
  const bootstrapFile = join(files.dir, 'bootstrap.json')
  writeFileSync(bootstrapFile, JSON.stringify(nodesBootstrap(files, genesisHash, nodes)))
  const dist = await builtApp()
  const server = await serveApp({ dist, bootstrapFile, host: '127.0.0.1', port: 0 })
  const browser = await launchBrowser()
  const extra: BrowserContext[] = []
  return {
    files,
    node,
    nodes,
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

/** `serveArgs` for a devnet whose first node produces a block every `blockTimeMs` with `txs` transactions. */
export const producing =
  (blockTimeMs: number, txs: number) =>
  (f: ReturnType<typeof makeDevnetFiles>): string[] => [
    '--produce',
    f.keysFile,
    '--block-time',
    String(blockTimeMs),
    '--txs',
    String(txs),
  ]

/** A wire client of the fixture's first serving node (e.g. to read its head); `close` stops it. */
export async function nodeClient(app: AppFixture): Promise<{ peer: PeerClient; close(): Promise<void> }> {
  const libp2p = await createClientLibp2p()
  const peer = new PeerClient(libp2p, multiaddr(app.node.ws))
  return {
    peer,
    async close() {
      peer.close()
      await libp2p.stop()
    },
  }
}

/** What the app build reads: its sources, static files and configuration. */
const BUILD_INPUTS = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', 'package-lock.json']

/**
 * The app, built once for each state of its sources: every browser test file of a run serves the
 * same build instead of building it again (a build is several seconds of a 2-core CI machine's
 * time). The build goes to a temporary directory renamed into place when complete, so a build
 * interrupted half-way is never served. The served directory is only read (bootstrap.json comes from
 * the devnet's directory). `buildId` names another build of the same sources (ROOTSYNC_BUILD_ID,
 * e.g. a "new version" for the update test), cached the same way.
 */
export async function builtApp(buildId?: string): Promise<string> {
  const dir = join(tmpdir(), `rootsync-app-${sourcesHash(BUILD_INPUTS, buildId ?? '')}`)
  if (existsSync(dir)) return dir
  const out = mkdtempSync(join(tmpdir(), 'rootsync-dist-'))
  const saved = process.env.ROOTSYNC_BUILD_ID
  if (buildId !== undefined) process.env.ROOTSYNC_BUILD_ID = buildId
  try {
    await build({ root: ROOT, logLevel: 'error', build: { outDir: out, emptyOutDir: true } })
  } finally {
    if (saved === undefined) delete process.env.ROOTSYNC_BUILD_ID
    else process.env.ROOTSYNC_BUILD_ID = saved
  }
  moveIntoPlace(out, dir)
  return dir
}
