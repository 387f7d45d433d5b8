/**
 * The bundle budget: the JavaScript a first visit must download before the app can work — the page
 * entry and the sync worker's entry with everything they import statically — stays within 250 KB
 * gzipped. Lazy chunks (libp2p, loaded on demand in the worker; the page's WebRTC bridge and its
 * libp2p; the service-worker registration) are reported but not counted.
 *
 * It runs the production build into a temporary directory and reads the chunk graph from the
 * bundler itself (a plugin in the page build and in the worker build records each chunk's static
 * and dynamic imports), so nothing here parses JavaScript.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type Plugin } from 'vite'
import { afterAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.ts'

/** Initial JavaScript, gzipped (bytes). */
const BUDGET = 250 * 1000

interface Chunk {
  file: string
  entry: string | null
  imports: string[]
  dynamicImports: string[]
  gzip: number
}

/** Records every chunk of each bundle it sees (the page build, the worker build). */
function chunkGraph(): { plugin: () => Plugin; bundles: Chunk[][] } {
  const bundles: Chunk[][] = []
  const plugin = (): Plugin => ({
    name: 'rootsync:chunk-graph',
    generateBundle(_, bundle) {
      const chunks: Chunk[] = []
      for (const c of Object.values(bundle)) {
        if (c.type !== 'chunk') continue
        chunks.push({
          file: c.fileName,
          entry: c.isEntry ? (c.facadeModuleId ?? c.name) : null,
          imports: c.imports,
          dynamicImports: c.dynamicImports,
          gzip: gzipSync(c.code).length,
        })
      }
      bundles.push(chunks)
    },
  })
  return { plugin, bundles }
}

/** The chunks an entry loads before it runs: itself and its static imports, transitively. */
function initialOf(chunks: Chunk[], entry: Chunk): Set<Chunk> {
  const byFile = new Map(chunks.map((c) => [c.file, c]))
  const seen = new Set<Chunk>()
  const visit = (c: Chunk) => {
    if (seen.has(c)) return
    seen.add(c)
    for (const f of c.imports) visit(byFile.get(f)!)
  }
  visit(entry)
  return seen
}

const outDir = mkdtempSync(join(tmpdir(), 'rootsync-budget-'))
afterAll(() => rmSync(outDir, { recursive: true, force: true }))

describe('bundle budget', () => {
  it(`the initial JavaScript (page entry + sync worker, gzip) is at most ${BUDGET / 1000} KB`, async () => {
    const graph = chunkGraph()
    // As `npm run build` does: vitest sets NODE_ENV=test, under which Svelte and vite build in
    // development mode (bigger, with dev checks) — not what users download.
    const env = process.env.NODE_ENV
    process.env.NODE_ENV = 'production'
    await build({
      root: ROOT,
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
      plugins: [graph.plugin()],
      worker: { plugins: () => [graph.plugin()] },
    }).finally(() => {
      process.env.NODE_ENV = env
    })
    const find = (suffix: string) => {
      for (const chunks of graph.bundles) {
        const entry = chunks.find((c) => c.entry?.endsWith(suffix))
        if (entry) return { chunks, entry }
      }
      throw new Error(`no entry chunk for ${suffix} in the build`)
    }
    const page = find('index.html')
    const worker = find('src/worker/sync-worker.ts')
    const initial = new Set([
      ...initialOf(page.chunks, page.entry),
      ...initialOf(worker.chunks, worker.entry),
    ])
    const lazy = [...page.chunks, ...worker.chunks].filter((c) => !initial.has(c))
    const total = [...initial].reduce((n, c) => n + c.gzip, 0)
    const kb = (n: number) => `${(n / 1000).toFixed(1)} KB`
    console.log(
      [
        `initial JavaScript: ${kb(total)} gzip (budget ${kb(BUDGET)})`,
        ...[...initial].map((c) => `  initial ${c.file}: ${kb(c.gzip)}`),
        ...lazy.map((c) => `  lazy    ${c.file}: ${kb(c.gzip)} (not counted)`),
      ].join('\n'),
    )
    // Lazy parts must really be lazy: libp2p is never in the initial set.
    expect(lazy.some((c) => c.file.includes('libp2p'))).toBe(true)
    expect(
      total,
      `initial JavaScript is ${kb(total)} gzip, over the ${kb(BUDGET)} budget: ${[...initial].map((c) => `${c.file} ${kb(c.gzip)}`).join(', ')}`,
    ).toBeLessThanOrEqual(BUDGET)
  }, 180_000)
})
