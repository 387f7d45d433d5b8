/**
 * The bundle budget: the JavaScript a first visit must download before the app can work — the page
 * entry and the sync worker's entry with everything they import statically — stays within 250 KB
 * gzipped. Lazy chunks (libp2p, loaded on demand in the worker; the page's WebRTC bridge and its
 * libp2p; the service-worker registration) are reported but not counted.
 *
 * It runs the production build into a temporary directory and reads the chunk graph from the
 * bundler itself (a plugin in the page build and in the worker build records each chunk's static
 * and dynamic imports), so nothing here parses JavaScript.
 *
 * The library (vite.lib.config.ts, dist-lib/) has no budget of its own; its sizes are reported the
 * same way: each file raw and gzipped, and what a page loads before each entry runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
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
  raw: number
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
          raw: Buffer.byteLength(c.code),
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
const libDir = mkdtempSync(join(tmpdir(), 'rootsync-budget-lib-'))
afterAll(() => {
  rmSync(outDir, { recursive: true, force: true })
  rmSync(libDir, { recursive: true, force: true })
})

const kb = (n: number) => `${(n / 1000).toFixed(1)} KB`

/** A production build (vitest sets NODE_ENV=test, under which Svelte and vite build for development). */
async function productionBuild(config: Parameters<typeof build>[0]): Promise<void> {
  const env = process.env.NODE_ENV
  process.env.NODE_ENV = 'production'
  await build(config).finally(() => {
    process.env.NODE_ENV = env
  })
}

describe('bundle budget', () => {
  it(`the initial JavaScript (page entry + its sync worker, gzip) is at most ${BUDGET / 1000} KB`, async () => {
    const graph = chunkGraph()
    // As `npm run build` does: in development mode the bundle is bigger, with dev checks — not what
    // users download.
    await productionBuild({
      root: ROOT,
      logLevel: 'error',
      build: { outDir, emptyOutDir: true },
      plugins: [graph.plugin()],
      worker: { plugins: () => [graph.plugin()] },
    })
    const find = (suffix: string) => {
      for (const chunks of graph.bundles) {
        const entry = chunks.find((c) => c.entry?.endsWith(suffix))
        if (entry) return { chunks, entry }
      }
      throw new Error(`no entry chunk for ${suffix} in the build`)
    }
    const page = find('index.html')
    // A page runs one of the two workers: the shared one where the browser has SharedWorker (the
    // app's default), the dedicated one elsewhere. The heavier of the two is counted.
    const sizeOf = (w: ReturnType<typeof find>) =>
      [...initialOf(w.chunks, w.entry)].reduce((n, c) => n + c.gzip, 0)
    const worker = [find('src/worker/sync-worker.ts'), find('src/worker/shared-worker.ts')].sort(
      (a, b) => sizeOf(b) - sizeOf(a),
    )[0]!
    const initial = new Set([
      ...initialOf(page.chunks, page.entry),
      ...initialOf(worker.chunks, worker.entry),
    ])
    const lazy = [...page.chunks, ...worker.chunks].filter((c) => !initial.has(c))
    const total = [...initial].reduce((n, c) => n + c.gzip, 0)
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

  it('reports the library’s sizes: every file, and what each entry loads before it runs', async () => {
    const graph = chunkGraph()
    await productionBuild({
      root: ROOT,
      configFile: join(ROOT, 'vite.lib.config.ts'),
      logLevel: 'error',
      build: { outDir: libDir, emptyOutDir: true, sourcemap: false },
      plugins: [graph.plugin()],
    })
    const chunks = graph.bundles.flat()
    const sum = (cs: Iterable<Chunk>, k: 'raw' | 'gzip') => [...cs].reduce((n, c) => n + c[k], 0)
    const entries = ['rootsync.js', 'rootsync-status.js', 'sync-worker.js', 'shared-worker.js']
      .map((f) => chunks.find((c) => c.file === f))
      .filter((c): c is Chunk => c !== undefined)
    const initial = new Map(entries.map((e) => [e.file, initialOf(chunks, e)]))
    // What a page that imports the library and shows the element loads before any of it runs, and
    // what its dedicated worker loads before it answers.
    const page = new Set([...initial.get('rootsync.js')!, ...initial.get('rootsync-status.js')!])
    const worker = initial.get('sync-worker.js')!
    console.log(
      [
        `library (dist-lib/): ${kb(sum(chunks, 'raw'))} raw, ${kb(sum(chunks, 'gzip'))} gzip in ${chunks.length} files`,
        ...chunks.map(
          (c) => `  ${c.entry ? 'entry' : 'chunk'} ${c.file}: ${kb(c.raw)} raw, ${kb(c.gzip)} gzip`,
        ),
        ...[...initial].map(
          ([f, cs]) =>
            `  before ${f} runs: ${kb(sum(cs, 'gzip'))} gzip (${[...cs].map((c) => c.file).join(', ')})`,
        ),
        `  a page with the client and <rootsync-status>: ${kb(sum(page, 'gzip'))} gzip, then its worker ${kb(sum(worker, 'gzip'))} gzip`,
      ].join('\n'),
    )
    // The entries package.json exports (and the workers beside them) are built, as their own files.
    for (const f of ['rootsync.js', 'rootsync-status.js', 'sync-worker.js'])
      expect(existsSync(join(libDir, f)), `${f} in the library build`).toBe(true)
    // libp2p stays lazy in the library too: nothing loads it before an entry runs.
    const eager = [...initial.values()].flatMap((cs) => [...cs])
    expect(chunks.some((c) => c.file.includes('libp2p'))).toBe(true)
    expect(eager.filter((c) => c.file.includes('libp2p'))).toEqual([])
  }, 180_000)
})
