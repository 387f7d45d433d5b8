/**
 * The shared worker's entry: the origin's one sync for every tab and embedded copy of one database
 * (the page names the shared worker after the database, so another chain gets its own). One host
 * (host.ts) behind the multiplexer (multiplex.ts): each connecting page gets a port; its requests
 * are renumbered, replies routed back to it, everything else broadcast.
 *
 * A page leaves with a `leave` message (its client closes, or its tab hides for good); when the
 * last one has left, this worker ends. Pages share the first page's configuration: one that starts
 * with another configuration of the same database joins the running sync as it is. When the
 * store reports that a newer rootsync upgraded the database in another tab (STORE_VERSION_CHANGED),
 * this worker closes itself after telling every page: a page that starts again gets a fresh one.
 */
import type { FromWorker } from '../api/worker-protocol.ts'
import { serve } from './host.ts'
import { createMultiplex, type PageMessage, type SharedControl } from './multiplex.ts'

interface SharedScope {
  onconnect: ((ev: MessageEvent) => void) | null
  close(): void
}
const scope = self as unknown as SharedScope

const mux = createMultiplex((m) => receive(m))
const receive = serve((m: FromWorker) => {
  mux.fromHost(m)
  if (m.type === 'event' && m.event.type === 'error' && m.event.code === 'STORE_VERSION_CHANGED')
    scope.close()
})

/** The configuration the host runs (the first `start`'s), and each page's latest. */
let running: string | null = null
const wants = new Map<MessagePort, string>()

/**
 * The host runs one configuration. The only page left wanting another (its settings changed, or a
 * reload found a new bootstrap.json) is sent to a fresh worker; while other pages share this one,
 * it joins it as it is.
 */
function rejoinIfAlone(): boolean {
  const [only, ...others] = wants.keys()
  if (!only || others.length || mux.size() !== 1 || wants.get(only) === running) return false
  only.postMessage({ type: 'rootsync:rejoin' } satisfies SharedControl)
  scope.close()
  return true
}

scope.onconnect = (ev) => {
  const port = ev.ports[0]
  if (!port) return
  const input = mux.connect((m) => port.postMessage(m))
  port.postMessage({ type: 'rootsync:joined' } satisfies SharedControl)
  port.onmessage = (e: MessageEvent<PageMessage>) => {
    const m = e.data
    if (m.type === 'start') {
      wants.set(port, JSON.stringify([m.dbName, m.bootstrap, m.recovery, m.consistency]))
      running ??= wants.get(port)!
      if (rejoinIfAlone()) return
    }
    input(m)
    if (m.type !== 'leave') return
    port.close()
    wants.delete(port)
    // The last page left (closed, or reloading): end here, as a dedicated worker would with its
    // page, so the next page starts a fresh worker that reads its configuration and the store anew.
    // (Chrome keeps a shared worker alive across its only page's navigation otherwise.)
    if (mux.size() === 0) scope.close()
    else rejoinIfAlone()
  }
  port.start()
}
