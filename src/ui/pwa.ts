/**
 * The app's service worker (src/sw/service-worker.ts, built to `service-worker.js` next to
 * index.html), registered and updated with workbox-window. main.ts imports this module lazily after
 * the app has mounted, so neither it nor workbox-window is in the page's initial JS. Only a built app
 * has a worker: under `vite` dev this does nothing.
 *
 * Updates: a new build's worker installs and then waits (the worker never skips waiting by itself),
 * so a running page is never served half by one build and half by another. The page offers it
 * (`onUpdateAvailable`); only when the user accepts does the waiting worker take over, and the page
 * reloads once, when the new worker controls it. Declining keeps the old build running; the offer
 * comes back on the next periodic check, not in a loop. A long-open tab learns of a new build by
 * asking the server (`wb.update()`) every `checkEveryMs` and when it becomes visible again; the
 * browser also checks on every navigation.
 *
 * Security: nothing a worker caches is trusted for correctness (see the worker's comment); the
 * update prompt only decides which build of the code runs, and that code is the server's either way.
 */
import { Workbox } from 'workbox-window'

/** Set by vite.config.ts: true in `vite build`, false under `vite` dev. */
declare const __PWA_SERVICE_WORKER__: boolean

export interface ServiceWorkerResult {
  state: 'activated' | 'unsupported' | 'failed'
  error?: string
}

export interface ServiceWorkerOptions {
  /**
   * A new build is ready. `update()` lets it take over (the page then reloads once onto it); until
   * then the page keeps running the build it has. Called again on a later check while it waits.
   */
  onUpdateAvailable?: (update: () => void) => void
  /** How often a long-open page asks the server for a new build (default 30 minutes). */
  checkEveryMs?: number
}

const DEFAULT_CHECK_MS = 30 * 60_000

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
    watchForUpdates(wb, registration, options)
    return await whenActive(registration)
  } catch (e) {
    return { state: 'failed', error: e instanceof Error ? e.message : String(e) }
  }
}

/**
 * Offers every build that waits, and swaps it in only on request. Waiting builds are found from the
 * registration itself rather than from workbox-window's `waiting` event, which it stops sending
 * after its first update (later ones count as "external" to it).
 */
function watchForUpdates(
  wb: Workbox,
  registration: ServiceWorkerRegistration,
  options: ServiceWorkerOptions,
): void {
  let accepted = false
  let reloading = false
  // The waiting worker last offered: if the user said "later", a visibility check does not offer it
  // again, the next periodic check does.
  let offered: ServiceWorker | null = null

  const reloadOnce = () => {
    if (reloading) return
    reloading = true
    window.location.reload()
  }
  const accept = () => {
    if (accepted) return
    accepted = true
    // Another tab may have swapped it in already: then this page is controlled by it and reloads.
    if (!registration.waiting) reloadOnce()
    else wb.messageSkipWaiting()
  }
  const offer = (force: boolean) => {
    const waiting = registration.waiting
    if (!waiting || accepted || (!force && waiting === offered)) return
    offered = waiting
    options.onUpdateAvailable?.(accept)
  }

  // The new worker controls the page: the one that accepted reloads onto it. Another tab of the old
  // build is now served by the new worker's caches, so it is offered a reload too.
  wb.addEventListener('controlling', () => {
    if (accepted) reloadOnce()
    else options.onUpdateAvailable?.(reloadOnce)
  })
  registration.addEventListener('updatefound', () => {
    const sw = registration.installing
    sw?.addEventListener('statechange', () => {
      if (sw.state === 'installed') offer(true)
    })
  })
  offer(true) // a build that was already waiting when the page opened

  const check = (force: boolean) => {
    if (accepted) return
    wb.update()
      .then(() => offer(force))
      .catch(() => {}) // offline or the server is down: the next check tries again
  }
  setInterval(() => check(true), options.checkEveryMs ?? DEFAULT_CHECK_MS)
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') check(false)
  })
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
