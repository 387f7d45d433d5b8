/**
 * When the app offers a new build, and what taking it does: the decisions of the PWA update flow,
 * apart from the browser (src/ui/pwa.ts wires them to workbox-window, the DOM and timers), so they
 * are tested with fakes.
 *
 * A new build's service worker installs and then waits (the worker never skips waiting by itself),
 * so a running page is never served half by one build and half by another. The page offers it;
 * only when the user accepts does the waiting worker take over, and the page reloads once, when the
 * new worker controls it. Declining keeps the old build running; the offer comes back on the next
 * periodic check, not on every return to the tab and not in a loop. A long-open tab learns of a new
 * build by asking the server every `checkEveryMs` and when it becomes visible again; the browser
 * also checks on every navigation.
 *
 * Waiting builds are read from the registration itself rather than from workbox-window's `waiting`
 * event, which it stops sending after its first update (later ones count as "external" to it).
 *
 * Security: the offer only decides which of the server's builds runs; nothing a worker caches is
 * trusted for correctness (see src/sw/service-worker.ts).
 */

/** The service worker side: a workbox-window `Workbox` in the app. */
export interface UpdateSource {
  /** Asks the server for a newer worker script (rejects offline). */
  update(): Promise<unknown>
  /** Tells the waiting worker to take over. */
  skipWaiting(): void
  /** A worker took control of this page (after a skip-waiting, here or in another tab). */
  onControlling(f: () => void): void
}

/** The page side: the browser in the app, fakes in tests. */
export interface UpdatePorts {
  reload(): void
  /** Calls `f` every `ms` (`f` settles when its check is done). */
  every(ms: number, f: () => Promise<void>): void
  /** Calls `f` whenever the page becomes visible again. */
  onVisible(f: () => Promise<void>): void
}

export interface UpdateOptions {
  /**
   * A new build is ready. `update()` lets it take over (the page then reloads once onto it); until
   * then the page keeps running the build it has. Called again on a later check while it waits.
   */
  onUpdateAvailable?: (update: () => void) => void
  /** How often a long-open page asks the server for a new build (default 30 minutes). */
  checkEveryMs?: number
}

export const DEFAULT_UPDATE_CHECK_MS = 30 * 60_000

type Registration = Pick<ServiceWorkerRegistration, 'active' | 'waiting' | 'installing' | 'addEventListener'>

export function watchForUpdates(
  source: UpdateSource,
  registration: Registration,
  options: UpdateOptions,
  ports: UpdatePorts,
): void {
  let accepted = false
  let reloading = false
  // The waiting worker last offered: if the user said "later", a visibility check does not offer it
  // again, the next periodic check does.
  let offered: ServiceWorker | null = null

  const reloadOnce = () => {
    if (reloading) return
    reloading = true
    ports.reload()
  }
  const accept = () => {
    if (accepted) return
    accepted = true
    // Another tab may have swapped it in already: then this page is controlled by it and reloads.
    if (!registration.waiting) reloadOnce()
    else source.skipWaiting()
  }
  const offer = (force: boolean) => {
    const waiting = registration.waiting
    // A first install also passes through "installed" (briefly the registration's waiting worker)
    // on its way to active: with no active worker there is no running build to replace.
    if (!waiting || !registration.active || accepted || (!force && waiting === offered)) return
    offered = waiting
    options.onUpdateAvailable?.(accept)
  }

  // The new worker controls the page: the one that accepted reloads onto it. Another tab of the old
  // build is now served by the new worker's caches, so it is offered a reload too.
  source.onControlling(() => {
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

  const check = async (force: boolean) => {
    if (accepted) return
    try {
      await source.update()
    } catch {
      return // offline or the server is down: the next check tries again
    }
    offer(force)
  }
  ports.every(options.checkEveryMs ?? DEFAULT_UPDATE_CHECK_MS, () => check(true))
  ports.onVisible(() => check(false))
}
