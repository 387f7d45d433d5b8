import { readFileSync } from 'node:fs'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig, type Plugin } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

/**
 * Start-up overlap, for a first answer that does not wait on one download after another: the page
 * would create the sync worker only once its own entry has loaded and run, and the worker would
 * load libp2p only once it runs. Instead index.html starts the worker itself, from a tiny inline
 * script ahead of the entry (`self.rootsyncWorker`, which the client adopts: src/client/
 * worker-source.ts), and prefetches the libp2p chunk into the HTTP cache the worker reads from.
 * The file names carry content hashes that only the build knows, so this runs on the built bundle
 * (`vite` dev creates the worker from the page, as before).
 */
function startWorkerEarly(): Plugin {
  type Bundle = Record<string, { type: string; code?: string; source?: string | Uint8Array }>
  const find = (bundle: Bundle, re: RegExp) => Object.keys(bundle).find((f) => re.test(f))
  /** The libp2p chunk `worker` imports (each worker bundle has its own copy). */
  const libp2pOf = (bundle: Bundle, worker: string) => {
    const c = bundle[worker]
    const text = c?.type === 'chunk' ? (c.code ?? '') : String(c?.source ?? '')
    const name = /libp2p-browser-[\w-]+\.js/.exec(text)?.[0]
    return name && find(bundle, new RegExp(`^assets/${name.replace('.', '\\.')}$`))
  }
  return {
    name: 'rootsync:start-worker-early',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        const bundle = (ctx.bundle ?? {}) as Bundle
        const worker = find(bundle, /^assets\/sync-worker-[\w-]+\.js$/)
        const shared = find(bundle, /^assets\/shared-worker-[\w-]+\.js$/)
        const libp2p = worker && libp2pOf(bundle, worker)
        const sharedLibp2p = shared && libp2pOf(bundle, shared)
        if (!worker || !shared || !libp2p || !sharedLibp2p)
          throw new Error(
            'rootsync: the sync worker, the shared worker or their libp2p chunks are not in the build',
          )
        const at = (f: string) => JSON.stringify(`./${f}`)
        // One sync per origin (src/client/worker-source.ts): where the browser has SharedWorker, the
        // app joins the shared worker named after the chain's database, which only the config names,
        // so its script and its libp2p are prefetched instead. Elsewhere a leader tab runs the
        // dedicated worker: it is started here (adopted if this tab leads, ended if it follows).
        const spawn = [
          '(function(){var s=typeof SharedWorker==="function",d=document;',
          `if(!s){self.rootsyncWorker=new Worker(${at(worker)},{type:"module",name:"rootsync-sync"});performance.mark("rootsync:worker-created")}`,
          `(s?[${at(shared)},${at(sharedLibp2p)}]:[${at(libp2p)}]).forEach(function(h){var l=d.createElement("link");l.rel="prefetch";l.href=h;d.head.appendChild(l)})`,
          '})()',
        ].join('')
        // First in <head>: a classic script waits for the stylesheets above it.
        return [{ tag: 'script', children: spawn, injectTo: 'head-prepend' as const }]
      },
    },
  }
}

export default defineConfig(({ command, mode }) => ({
  base: './',
  // `src/ui/pwa.ts` registers the service worker only in a built app, never under `vite` dev.
  define: {
    __PWA_SERVICE_WORKER__: JSON.stringify(command === 'build'),
    // The build's name, shown in the app's footer and on <html data-build> so a person (or a test)
    // can tell two builds apart: ROOTSYNC_BUILD_ID, else the package version and the build time.
    __ROOTSYNC_BUILD__: JSON.stringify(
      process.env.ROOTSYNC_BUILD_ID ||
        `${JSON.parse(readFileSync(new URL('package.json', import.meta.url), 'utf8')).version}+${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}`,
    ),
  },
  plugins: [
    svelte(),
    startWorkerEarly(),
    // The service worker (src/sw/service-worker.ts) is bundled by a second vite build after the
    // app's, then workbox-build's injectManifest writes the precache list (every file below, with
    // a revision hash for the unhashed ones) into it as `self.__WB_MANIFEST`. The web manifest and
    // icons are committed files in public/; registration is ours (src/ui/pwa.ts, workbox-window).
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src/sw',
      filename: 'service-worker.ts',
      injectRegister: false,
      manifest: false,
      includeManifestIcons: false,
      injectManifest: {
        globPatterns: ['**/*.{html,js,css,wasm,png,svg,webmanifest}'],
        // The chain config is fetched network-first at run time, never precached.
        globIgnores: ['**/bootstrap.json'],
        // Build workbox in the app's mode (its dev logging is keyed on NODE_ENV, which test
        // runners set to "test").
        buildPlugins: {
          vite: [
            {
              name: 'rootsync:sw-mode',
              config: () => ({ define: { 'process.env.NODE_ENV': JSON.stringify(mode) } }),
            },
          ],
        },
      },
    }),
  ],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
}))
