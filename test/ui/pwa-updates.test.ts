/**
 * The PWA update decisions (src/ui/pwa-updates.ts) with a fake registration, worker source and
 * page: when a new build is offered, that declining keeps the running one until the next periodic
 * check, and that accepting swaps it in with exactly one reload. The real flow in Chromium is
 * test/browser/pwa.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { type UpdateOptions, watchForUpdates } from '../../src/ui/pwa-updates.ts'

/** A service worker: its state, and `statechange` when it moves on. */
function fakeWorker(state: ServiceWorkerState) {
  const sw = Object.assign(new EventTarget(), { state })
  return {
    sw: sw as unknown as ServiceWorker,
    set(next: ServiceWorkerState) {
      sw.state = next
      sw.dispatchEvent(new Event('statechange'))
    },
  }
}

function setup(opts: { waiting?: boolean; firstVisit?: boolean } = {}) {
  const registration = Object.assign(new EventTarget(), {
    // The build this page runs (none before the first install: `firstVisit`).
    active: opts.firstVisit ? null : (fakeWorker('activated').sw as ServiceWorker | null),
    waiting: opts.waiting ? fakeWorker('installed').sw : null,
    installing: null as ServiceWorker | null,
  })
  const page = {
    offers: [] as Array<() => void>,
    reloads: 0,
    skips: 0,
    updates: 0,
    offline: false,
    controlling: [] as Array<() => void>,
    periodic: [] as Array<() => Promise<void>>,
    visible: [] as Array<() => Promise<void>>,
  }
  const options: UpdateOptions = {
    onUpdateAvailable: (update) => page.offers.push(update),
    checkEveryMs: 1000,
  }
  watchForUpdates(
    {
      update: async () => {
        page.updates++
        if (page.offline) throw new TypeError('Failed to fetch')
      },
      skipWaiting: () => page.skips++,
      onControlling: (f) => page.controlling.push(f),
    },
    registration as unknown as ServiceWorkerRegistration,
    options,
    {
      reload: () => page.reloads++,
      every: (ms, f) => {
        expect(ms).toBe(1000)
        page.periodic.push(f)
      },
      onVisible: (f) => page.visible.push(f),
    },
  )
  /** A worker is found, installs, and becomes the registration's waiting worker. */
  const install = () => {
    const next = fakeWorker('installing')
    registration.installing = next.sw
    registration.dispatchEvent(new Event('updatefound'))
    registration.installing = null
    registration.waiting = next.sw
    next.set('installed')
    return next
  }
  return {
    registration,
    page,
    /** The server has a new build: it installs, then waits. */
    deploy: () => void install(),
    /** The first visit's worker installs (briefly waiting), then activates: nothing to replace. */
    firstInstall() {
      const first = install()
      registration.waiting = null
      registration.active = first.sw
      first.set('activating')
    },
    periodicCheck: () => Promise.all(page.periodic.map((f) => f())),
    visibleAgain: () => Promise.all(page.visible.map((f) => f())),
    controllerChanged: () => {
      for (const f of page.controlling) f()
    },
  }
}

describe('PWA updates', () => {
  it('offers nothing while no new build waits, however often it checks', async () => {
    const t = setup()
    await t.periodicCheck()
    await t.visibleAgain()
    expect(t.page.updates).toBe(2)
    expect(t.page.offers).toHaveLength(0)
  })

  it('the first install of the app is not offered as a new version', async () => {
    const t = setup({ firstVisit: true })
    t.firstInstall()
    await t.periodicCheck()
    expect(t.page.offers).toHaveLength(0)
    t.deploy() // a real new build later is
    expect(t.page.offers).toHaveLength(1)
  })

  it('a new build found while the page is open is offered once', async () => {
    const t = setup()
    t.deploy()
    expect(t.page.offers).toHaveLength(1)
    await t.visibleAgain() // the same waiting build: not offered again on a return to the tab
    expect(t.page.offers).toHaveLength(1)
  })

  it('declined, the running build stays; the offer comes back on the next periodic check only', async () => {
    const t = setup({ waiting: true }) // waiting already when the page opened
    expect(t.page.offers).toHaveLength(1)
    // "Later" is not calling the update: nothing is swapped in, nothing reloads.
    await t.visibleAgain()
    await t.visibleAgain()
    expect(t.page.offers).toHaveLength(1)
    await t.periodicCheck()
    expect(t.page.offers).toHaveLength(2)
    expect(t.page.skips).toBe(0)
    expect(t.page.reloads).toBe(0)
  })

  it('accepted, the waiting build takes over and the page reloads exactly once, when it controls the page', async () => {
    const t = setup()
    t.deploy()
    const accept = t.page.offers[0]!
    accept()
    accept() // a double click
    expect(t.page.skips).toBe(1)
    expect(t.page.reloads).toBe(0) // not before the new worker controls the page
    t.controllerChanged()
    t.controllerChanged()
    expect(t.page.reloads).toBe(1)
    await t.periodicCheck() // no more checks or offers once accepted
    expect(t.page.offers).toHaveLength(1)
  })

  it('another tab took the new build: this one is offered a reload, which does not skip waiting again', async () => {
    const t = setup()
    t.deploy()
    t.registration.waiting = null // activated by the other tab
    t.controllerChanged()
    expect(t.page.offers).toHaveLength(2)
    t.page.offers[1]!()
    expect(t.page.reloads).toBe(1)
    expect(t.page.skips).toBe(0)
  })

  it('a check that cannot reach the server (offline) offers nothing and the next one still works', async () => {
    const t = setup()
    t.page.offline = true
    t.deploy()
    t.page.offers.length = 0
    await t.periodicCheck()
    expect(t.page.offers).toHaveLength(0)
    t.page.offline = false
    await t.periodicCheck()
    expect(t.page.offers).toHaveLength(1)
  })
})
