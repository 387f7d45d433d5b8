import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig, type Plugin } from 'vite'
import { VitePWA } from 'vite-plugin-pwa'

/**
 * The sync worker's script and its lazily imported libp2p chunk are fetched only when the page has
 * run its own code (the worker) and the worker its own (libp2p): one after the other. A prefetch of
 * both in index.html starts them with the page's, so they come from the HTTP cache (the same
 * for page and worker) when asked for. The file names carry content hashes: only the build knows
 * them, so this runs on the built bundle.
 */
function prefetchWorkerChunks(): Plugin {
  const wanted = [/^assets\/sync-worker-[\w-]+\.js$/, /^assets\/libp2p-browser-[\w-]+\.js$/]
  return {
    name: 'rootsync:prefetch-worker-chunks',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      handler(_html, ctx) {
        const files = Object.keys(ctx.bundle ?? {}).filter((f) => wanted.some((w) => w.test(f)))
        return files.map((f) => ({
          tag: 'link',
          attrs: { rel: 'prefetch', href: `./${f}` },
          injectTo: 'head' as const,
        }))
      },
    },
  }
}

export default defineConfig(({ command, mode }) => ({
  base: './',
  // `src/ui/pwa.ts` registers the service worker only in a built app, never under `vite` dev.
  define: { __PWA_SERVICE_WORKER__: JSON.stringify(command === 'build') },
  plugins: [
    svelte(),
    prefetchWorkerChunks(),
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
