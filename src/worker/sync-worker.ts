/**
 * The dedicated sync worker's entry (one page, one worker): the host (host.ts) posts to the page
 * that created it and takes that page's messages. The shared worker's entry serves several pages
 * with the same host.
 */
import type { ToWorker } from '../api/worker-protocol.ts'
import { serve } from './host.ts'

const receive = serve((m) => (self as unknown as Worker).postMessage(m))
self.onmessage = (ev: MessageEvent<ToWorker>) => receive(ev.data)
