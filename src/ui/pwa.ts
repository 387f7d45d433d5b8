/**
 * The app's service worker (src/sw/service-worker.ts, built to `service-worker.js` next to
 * index.html), registered and updated with workbox-window; when a new build is offered and what
 * taking it does is src/ui/pwa-updates.ts. main.ts imports this module lazily after the app has
 * mounted, so neither it nor workbox-window is in the page's initial JS. Only a built app has a
 * worker: under `vite` dev this does nothing.
 */
import { Workbox } from 'workbox-window'
import { type UpdateOptions, type UpdatePorts, watchForUpdates } from './pwa-updates.ts'

/** Set by vite.config.ts: true in `vite build`, false under `vite` dev. */
declare const __PWA_SERVICE_WORKER__: boolean

export interface ServiceWorkerResult {
  state: 'activated' | 'unsupported' | 'failed'
  error?: string
}

export type ServiceWorkerOptions = UpdateOptions

const browserPorts: UpdatePorts = {
  reload: () => window.location.reload(),
  every: (ms, f) => {
    setInterval(() => void f(), ms)
  },
  onVisible: (f) =>
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') void f()
    }),
}

export async function registerServiceWorker(
  options: ServiceWorkerOptions = {},
): Promise<ServiceWorkerResult> {
  if (!__PWA_SERVICE_WORKER__) return { state: 'unsupported', error: 'no service worker under vite dev' }
  if (!('serviceWorker' in navigator)) {
    return { state: 'unsupported', error: 'service workers need a secure context (https or localhost)' }
  }
  try {
    const wb = new Workbox('./service-worker.js')
    const registration = await wb.register()
    if (!registration) return { state: 'failed', error: 'registration did not complete' }
    const source = {
      update: () => wb.update(),
      skipWaiting: () => wb.messageSkipWaiting(),
      onControlling: (f: () => void) => wb.addEventListener('controlling', f),
    }
    watchForUpdates(source, registration, options, browserPorts)
    return await whenActive(registration)
  } catch (e) {
    return { state: 'failed', error: e instanceof Error ? e.message : String(e) }
  }
}

/** Resolves once the registration has an active worker, or with `failed` if its install fails. */
function whenActive(registration: ServiceWorkerRegistration): Promise<ServiceWorkerResult> {
  if (registration.active) return Promise.resolve({ state: 'activated' })
  const sw = registration.installing ?? registration.waiting
  if (!sw) return navigator.serviceWorker.ready.then(() => ({ state: 'activated' }))
  return new Promise((resolve) => {
    const check = () => {
      if (sw.state === 'activated') resolve({ state: 'activated' })
      else if (sw.state === 'redundant') {
        resolve({ state: 'failed', error: 'the service worker failed to install (precache download?)' })
      }
    }
    sw.addEventListener('statechange', check)
    check()
  })
}

/**
 * A small bar at the bottom of the page offering the new build: "Reload" takes it (once), "Later"
 * keeps the running one. Shown at most once at a time.
 */
export function showUpdateBar(update: () => void): void {
  if (document.getElementById('pwa-update')) return
  const bar = document.createElement('div')
  bar.id = 'pwa-update'
  bar.setAttribute('role', 'status')
  bar.dataset.testid = 'update-bar'
  bar.style.cssText =
    'position:fixed;left:0;right:0;bottom:0;padding:0.5rem 1rem;background:#2f7d32;color:#fff;display:flex;gap:1rem;align-items:center;font:inherit'
  const text = document.createElement('span')
  text.textContent = 'A new version of rootsync is available.'
  const reload = document.createElement('button')
  reload.textContent = 'Reload'
  reload.onclick = () => {
    reload.disabled = true
    update()
  }
  const later = document.createElement('button')
  later.textContent = 'Later'
  later.onclick = () => bar.remove()
  bar.append(text, reload, later)
  document.body.append(bar)
}
