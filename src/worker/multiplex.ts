/**
 * One host, many pages: the origin's one sync (a SharedWorker, or a leader tab's worker) serves
 * every tab and embedded copy through this multiplexer. Each page numbers its requests from 1, so
 * ids collide between pages: requests are renumbered on the way in and replies routed back, under
 * the page's own id, to the page that asked. Everything else the host says (events, peers, timing,
 * the last recovery) goes to every page, and a page that connects late is sent the current state at
 * once (the last phase, header, progress, store, peers, last recovery…) so its UI is complete
 * without waiting for the next event. Start-up milestones (`timing`) are marks on the timeline of
 * the page that was there: only the first page gets those from before it connected.
 *
 * Sharing the sync: `start` from any page joins (the host resumes on a same-database start); `stop`
 * from one page stops the shared sync only once no connected page still wants it running — the page
 * that asked hears `phase: stopped` at once (its `stop()` resolves) while the others keep syncing.
 * A page that leaves (`leave`: its client closed, or its tab went away) counts as having stopped;
 * its reads in flight are cancelled in the host.
 *
 * Security considerations: pages of one origin trust each other (they share the database anyway);
 * the multiplexer only keeps one page's replies from reaching another and never alters what the
 * host verified.
 */
import type { FromWorker, LightEvent, ToWorker } from '../api/worker-protocol.ts'

/** What a page may send: the worker protocol, or that it leaves. */
export type PageMessage = ToWorker | { type: 'leave' }

/**
 * The shared worker's own word to a page, beside the protocol: `joined` (this port is served: a
 * page that hears nothing connected to a worker that was closing, and connects again), `rejoin`
 * (this worker ends: connect again, to a fresh one, and send `start` and the unanswered requests).
 */
export type SharedControl = { type: 'rootsync:joined' } | { type: 'rootsync:rejoin' }

export interface Multiplex {
  /** The host's output. */
  fromHost(m: FromWorker): void
  /** A page connects: `post` reaches it (the current state is replayed at once); returns its input. */
  connect(post: (m: FromWorker) => void): (m: PageMessage) => void
  /** Pages connected and not left. */
  size(): number
}

interface Page {
  post(m: FromWorker): void
  /** The page's request ids → the host's. */
  ids: Map<number, number>
  /** It has started the sync and not stopped it since. */
  running: boolean
}

/** Events whose latest instance describes the current state (replayed to a page that connects late). */
const STATE_EVENTS = new Set<LightEvent['type']>([
  'phase',
  'header',
  'progress',
  'store',
  'trust',
  'resumed',
  'synced',
  'halt',
  'offline',
  'error',
])

export function createMultiplex(toHost: (m: ToWorker) => void): Multiplex {
  const pages = new Set<Page>()
  /** Host id → the page that asked and its own id. */
  const routes = new Map<number, { page: Page; id: number }>()
  let nextId = 1
  let hostRunning = false
  const state = new Map<string, FromWorker>()
  /**
   * Milestones from before the first page connected (the worker's own start): that page created
   * the worker, so they fall on its timeline. Later pages get none from the past.
   */
  let beforeFirst: FromWorker[] | null = []

  const remember = (m: FromWorker) => {
    if (m.type === 'peers' || m.type === 'last-recovery') keep(m.type, m)
    else if (m.type === 'event' && STATE_EVENTS.has(m.event.type)) keep(`event:${m.event.type}`, m)
  }
  /** Latest last: a late page hears the state in the order it arose. */
  const keep = (key: string, m: FromWorker) => {
    state.delete(key)
    state.set(key, m)
  }

  function fromHost(m: FromWorker): void {
    if ('id' in m) {
      const r = routes.get(m.id)
      if (!r) return
      routes.delete(m.id)
      r.page.ids.delete(r.id)
      r.page.post({ ...m, id: r.id })
      return
    }
    if (m.type === 'timing' && beforeFirst) beforeFirst.push(m)
    remember(m)
    if (m.type === 'event' && m.event.type === 'phase' && m.event.phase === 'stopped') hostRunning = false
    for (const p of pages) p.post(m)
  }

  /** Stops the host's sync once no page wants it running. */
  function maybeStop(reason?: string) {
    if (!hostRunning || [...pages].some((p) => p.running)) return
    hostRunning = false
    toHost({ type: 'stop', reason })
  }

  function request(page: Page, m: Extract<ToWorker, { id: number }>) {
    const id = nextId++
    page.ids.set(m.id, id)
    routes.set(id, { page, id: m.id })
    toHost({ ...m, id })
  }

  function connect(post: (m: FromWorker) => void): (m: PageMessage) => void {
    const page: Page = { post, ids: new Map(), running: false }
    pages.add(page)
    for (const m of beforeFirst ?? []) post(m)
    beforeFirst = null
    for (const m of state.values()) post(m)
    return (m) => {
      if (!pages.has(page)) return
      switch (m.type) {
        case 'leave':
          pages.delete(page)
          for (const id of page.ids.values()) {
            routes.delete(id)
            toHost({ type: 'cancel', id })
          }
          page.running = false
          maybeStop('every page left')
          return
        case 'start':
          page.running = true
          hostRunning = true
          toHost(m)
          return
        case 'stop':
          page.running = false
          if (hostRunning && [...pages].some((p) => p.running))
            post({
              type: 'event',
              event: { type: 'phase', phase: 'stopped', detail: 'other pages keep syncing' },
            })
          else if (hostRunning) maybeStop(m.reason)
          else toHost(m)
          return
        case 'cancel': {
          const id = page.ids.get(m.id)
          if (id !== undefined) toHost({ type: 'cancel', id })
          return
        }
        default:
          if ('id' in m) request(page, m)
          else toHost(m)
      }
    }
  }

  return { fromHost, connect, size: () => pages.size }
}
