/**
 * The app's service worker (bundled by vite-plugin-pwa, precache list injected by workbox-build):
 *
 * - The app shell (html, js, css, wasm, icons, web manifest) is precached at install, each file
 *   under a revision (the hash in its name, or a content hash workbox adds), and served cache-first;
 *   a new build installs a new worker whose precache replaces the old one once it activates.
 * - Navigations inside the scope get the precached index.html, so the app opens offline.
 * - `bootstrap.json` (the chain config: checkpoint, validators, peers) is network-first: the newest
 *   one when the server answers, the last good copy when it cannot be reached. It is never
 *   precached: it belongs to the devnet, not to the build. Install seeds its cache, so a page opened
 *   once before its worker existed still has a copy for its first offline reload.
 *
 * Nothing here is trusted for correctness: the worker re-verifies the header chain from the
 * checkpoint and every state node against a verified root, whatever cache a file came from.
 */
/// <reference lib="webworker" />
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching'
import { NavigationRoute, registerRoute } from 'workbox-routing'
import { NetworkFirst } from 'workbox-strategies'

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<string | { url: string; revision: string | null }>
}

const BOOTSTRAP_CACHE = 'rootsync-bootstrap'
const bootstrapUrl = new URL('bootstrap.json', self.registration.scope).href

// A new worker waits until the page asks it to take over (src/ui/pwa.ts, after the user agrees), so a
// page never runs half on an old build and half on a new one.
self.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') void self.skipWaiting()
})

self.addEventListener('install', (event) => {
  event.waitUntil(seedBootstrap())
})

async function seedBootstrap(): Promise<void> {
  try {
    const response = await fetch(bootstrapUrl, { cache: 'no-store' })
    if (response.ok) await (await caches.open(BOOTSTRAP_CACHE)).put(bootstrapUrl, response)
  } catch {
    // Offline or no devnet: the first network-first fetch fills the cache later.
  }
}

precacheAndRoute(self.__WB_MANIFEST)
cleanupOutdatedCaches()

registerRoute(
  ({ url }) => url.origin + url.pathname === bootstrapUrl,
  new NetworkFirst({ cacheName: BOOTSTRAP_CACHE, networkTimeoutSeconds: 10 }),
)

registerRoute(
  new NavigationRoute(createHandlerBoundToURL('index.html'), {
    denylist: [/\/bootstrap\.json$/, /\/service-worker\.js$/],
  }),
)
