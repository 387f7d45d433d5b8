/**
 * The shared worker's entry: the origin's one sync for every tab and embedded copy of one database
 * (the page names the shared worker after the database, so another chain gets its own). One host
 * (host.ts) behind the multiplexer (multiplex.ts): each connecting page gets a port; its requests
 * are renumbered, replies routed back to it, everything else broadcast.
 *
 * A page leaves with a `leave` message (its client closes, or its tab hides for good). When the
 * store reports that a newer rootsync upgraded the database in another tab (STORE_VERSION_CHANGED),
 * this worker closes itself after telling every page: a page that starts again gets a fresh one.
 */
import type { FromWorker } from '../api/worker-protocol.ts'
import { serve } from './host.ts'
import { createMultiplex, type PageMessage } from './multiplex.ts'

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

scope.onconnect = (ev) => {
  const port = ev.ports[0]
  if (!port) return
  const input = mux.connect((m) => port.postMessage(m))
  port.onmessage = (e: MessageEvent<PageMessage>) => {
    input(e.data)
    if (e.data.type === 'leave') port.close()
  }
  port.start()
}
