/**
 * Shared by the WebRTC bridge test and benchmark: builds the bridge's test page with Vite (as the app
 * is built: the worker bundled separately, the bridge and libp2p in lazy chunks) and serves it with
 * a /config.json naming the peers to bridge.
 */
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Rolldown } from 'vite'
import type { PeerInfo } from '../../src/api/worker-protocol.ts'
import { ROOT } from '../helpers/cli.ts'

export interface ChunkSize {
  file: string
  kind: 'entry' | 'lazy' | 'worker' | 'other'
  /** Source modules of ours in the chunk (for telling chunks apart). */
  modules: string[]
  bytes: number
  gzip: number
}

export async function buildBridgePage(): Promise<{ dir: string; chunks: ChunkSize[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rootsync-bridge-page-'))
  const out = await build({
    root: ROOT,
    configFile: false,
    logLevel: 'error',
    build: {
      outDir: dir,
      emptyOutDir: true,
      target: 'es2022',
      rolldownOptions: {
        input: { page: join(ROOT, 'test/browser/webrtc-bridge.page.ts') },
        output: { entryFileNames: '[name].js' },
      },
    },
    worker: { format: 'es' },
  })
  const outputs = (Array.isArray(out) ? out : [out]) as Rolldown.RolldownOutput[]
  const chunks: ChunkSize[] = []
  for (const o of outputs)
    for (const c of o.output) {
      const code = c.type === 'chunk' ? c.code : c.source
      const bytes = typeof code === 'string' ? Buffer.byteLength(code) : code.byteLength
      if (!c.fileName.endsWith('.js')) continue
      chunks.push({
        file: c.fileName,
        kind:
          c.type === 'chunk'
            ? c.isEntry
              ? 'entry'
              : c.isDynamicEntry
                ? 'lazy'
                : 'other'
            : c.fileName.includes('worker')
              ? 'worker'
              : 'other',
        modules:
          c.type === 'chunk'
            ? Object.keys(c.modules)
                .filter((m) => m.startsWith(ROOT) && !m.includes('node_modules'))
                .map((m) => m.slice(ROOT.length + 1))
            : [],
        bytes,
        gzip: gzipSync(code).byteLength,
      })
    }
  return { dir, chunks }
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm' }

export function serveBridgePage(
  dir: string,
  config: { peers: PeerInfo[]; timeoutMs: number; wasm: boolean },
): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/config.json')
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(config))
    if (path === '/')
      return res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>bridge</title><script type="module" src="/page.js"></script>')
    try {
      const body = await readFile(join(dir, normalize(path).replace(/^(\.\.[/\\])+/, '')))
      res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server }),
    ),
  )
}
