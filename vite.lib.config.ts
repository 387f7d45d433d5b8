/**
 * The library build (`npm run build:lib`): rootsync as ES modules a page imports with or without a
 * bundler, into dist-lib/ (declarations: tsconfig.lib.json, into dist-lib/types/).
 *
 *   rootsync.js          src/lib/index.ts: createLightClient, the provider, EIP-6963, typed errors
 *   rootsync-status.js   src/lib/element.ts: defines <rootsync-status>
 *   sync-worker.js       the dedicated sync worker (its libp2p chunk loads lazily)
 *   shared-worker.js     the origin's shared sync worker (when src/worker/shared-worker.ts exists)
 *   idb-writer.js        the store-writer worker the sync worker starts (src/worker/idb-writer.ts)
 *   *-[hash].js          shared and lazy chunks, beside the entries
 *
 * Everything sits in one flat directory, so a worker's default URL is `./sync-worker.js` relative to
 * whichever chunk creates it. The sources name the workers by their source path
 * (`new URL('../worker/sync-worker.ts', import.meta.url)`, what the app build bundles as a worker);
 * here that expression becomes `new URL('./sync-worker.js', '' + import.meta.url)` — the built entry
 * beside the library, in a form vite's worker plugin leaves alone (it would otherwise bundle a second
 * copy of the worker as an asset). The sync worker's host names its store-writer worker the same way
 * (`new URL('./idb-writer.ts', import.meta.url)` in src/worker/host.ts → `./idb-writer.js`: vite would
 * otherwise emit it under `/assets/`, a path from the site's root, not beside the library). A build
 * that leaves the sync worker's or the writer's URL unrewritten fails, so a changed worker-source.ts
 * or host.ts cannot silently load the wrong file.
 *
 * Dependencies are bundled (a bundler-free page has no resolver for bare imports); Svelte compiles
 * src/element/ as custom elements, nothing else (the element defines itself: src/lib/element.ts).
 */
import { existsSync } from 'node:fs'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig, type Plugin } from 'vite'

const WORKERS = ['sync-worker', 'shared-worker', 'idb-writer'] as const

/** The worker entries whose sources exist (the shared worker arrives with issue 13's sharing part). */
const workerEntries = Object.fromEntries(
  WORKERS.map((w) => [w, `src/worker/${w}.ts`] as const).filter(([, src]) => existsSync(src)),
)

/**
 * `new URL('../worker/<w>.ts', import.meta.url)` in src/client/ or src/lib/, and
 * `new URL('./idb-writer.ts', import.meta.url)` in src/worker/ → the built `./<w>.js`.
 */
function workersBesideLibrary(): Plugin {
  const re =
    /new\s+URL\(\s*(['"])(?:\.\.\/worker\/(sync-worker|shared-worker)|\.\/(idb-writer))\.ts\1\s*,\s*import\.meta\.url\s*\)/g
  const rewritten = new Set<string>()
  return {
    name: 'rootsync:workers-beside-library',
    enforce: 'pre',
    transform(code, id) {
      if (!/[/\\]src[/\\](client|lib|worker)[/\\][^/\\]+\.ts$/.test(id)) return null
      let n = 0
      const out = code.replace(re, (_m, _q, page: string | undefined, inWorker: string | undefined) => {
        const w = (page ?? inWorker)!
        n++
        rewritten.add(w)
        return `new URL(${JSON.stringify(`./${w}.js`)}, '' + import.meta.url)`
      })
      return n ? { code: out, map: null } : null
    },
    buildEnd(error) {
      const missing = ['sync-worker', 'idb-writer'].filter((w) => w in workerEntries && !rewritten.has(w))
      if (!error && missing.length)
        this.error(
          `rootsync: no worker URL to point beside the library for ${missing.join(', ')} (src/client/worker-source.ts or src/worker/host.ts changed?)`,
        )
    },
  }
}

export default defineConfig({
  // Bundled for a page without a bundler: nothing may read `process` at run time.
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  plugins: [
    workersBesideLibrary(),
    svelte({
      dynamicCompileOptions: ({ filename }) =>
        /[/\\]src[/\\]element[/\\]/.test(filename) ? { customElement: true } : undefined,
    }),
  ],
  publicDir: false,
  build: {
    outDir: 'dist-lib',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    lib: {
      entry: {
        rootsync: 'src/lib/index.ts',
        'rootsync-status': 'src/lib/element.ts',
        ...workerEntries,
      },
      formats: ['es'],
      fileName: (_format, name) => `${name}.js`,
    },
    rolldownOptions: {
      output: {
        chunkFileNames: '[name]-[hash].js',
        assetFileNames: '[name]-[hash][extname]',
        // Minified in full: vite's library mode keeps ES output's whitespace for a bundler to
        // minify later, but a page without a bundler downloads these files as they are.
        minify: true,
      },
    },
  },
})
