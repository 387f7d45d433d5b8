/**
 * Where a page's light client gets its worker: its own dedicated worker, or a share of the origin's
 * one sync (a SharedWorker, or the worker of a leader tab: leader.ts). Every kind looks like a
 * `Worker` to the client (postMessage/onmessage/onerror/terminate).
 *
 * The shared kinds connect at the first `start`, whose database names what they join: the shared
 * worker is named `rootsync:<db>` and the leader lock `rootsync-leader:<db>`, so another chain gets
 * its own sync instead of the host's WORKER_BOUND refusal. What one page's calls do to the shared sync:
 * - `start()` joins it (starting it if no page runs it);
 * - `stop()` resolves at once for that page; the sync stops once no connected page wants it;
 * - `close()` (the client's `terminate`) leaves: its reads are cancelled, and it counts as stopped;
 *   closing the leader tab hands the sync to another tab, which resumes from the store;
 * - `clearData()` leaves, then deletes the database: the other pages' stores close on the
 *   deletion's `versionchange` and report STORE_VERSION_CHANGED (the shared worker then ends, so the
 *   next start gets a fresh one).
 */
import type { FromWorker, ToWorker } from '../api/worker-protocol.ts'
import type { PageMessage, SharedControl } from '../worker/multiplex.ts'
import { connectLeader, type Endpoint } from './leader.ts'
import type { LightClient, LightClientOptions } from './light-client.ts'

export interface WorkerSource {
  create(): Worker
  /** How this page takes part (null until `create`). */
  role(): LightClient['role']
}

type Sharing = NonNullable<LightClientOptions['sharing']>
type Role = LightClient['role']

/** The bundled dedicated worker, or the one index.html started ahead of the entry (adopted once). */
export function dedicatedWorker(url?: string | URL): Worker {
  const early = (globalThis as { rootsyncWorker?: Worker }).rootsyncWorker
  if (early) {
    delete (globalThis as { rootsyncWorker?: Worker }).rootsyncWorker
    return early
  }
  if (url) return new Worker(url, { type: 'module', name: 'rootsync-sync' })
  return new Worker(new URL('../worker/sync-worker.ts', import.meta.url), {
    type: 'module',
    name: 'rootsync-sync',
  })
}

function sharedWorker(dbName: string, url?: string | URL): SharedWorker {
  const name = `rootsync:${dbName}`
  if (url) return new SharedWorker(url, { type: 'module', name })
  return new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name })
}

/**
 * Joins the shared worker of `dbName`. A page that goes away leaves (its port would die unannounced);
 * one that comes back from the back-forward cache joins again. It joins again too when the worker
 * says so (`rootsync:rejoin`: another configuration needs a fresh worker), or when no
 * `rootsync:joined` arrives (it reached a worker that was closing): each time with its last `start`
 * and its unanswered requests.
 */
function connectShared(
  dbName: string,
  deliver: (m: FromWorker) => void,
  fail: (message: string) => void,
  url?: string | URL,
): Endpoint {
  let lastStart: ToWorker | null = null
  const unanswered = new Map<number, ToWorker>()
  let watchdog: ReturnType<typeof setTimeout> | undefined
  const join = (): MessagePort => {
    const w = sharedWorker(dbName, url)
    const p = w.port
    p.onmessage = (ev: MessageEvent<FromWorker | SharedControl>) => {
      const m = ev.data
      if (m.type === 'rootsync:joined') clearTimeout(watchdog)
      else if (m.type === 'rootsync:rejoin') rejoin()
      else {
        if ('id' in m) unanswered.delete(m.id)
        deliver(m)
      }
    }
    w.onerror = (e) => fail(e.message || 'the shared sync worker failed')
    p.start()
    clearTimeout(watchdog)
    watchdog = setTimeout(rejoin, JOIN_TIMEOUT_MS)
    return p
  }
  let port = join()
  const leave = () => port.postMessage({ type: 'leave' } satisfies PageMessage)
  function rejoin() {
    leave()
    port.close()
    port = join()
    if (lastStart) port.postMessage(lastStart)
    for (const m of unanswered.values()) port.postMessage(m)
  }
  const show = (e: PageTransitionEvent) => e.persisted && rejoin()
  addEventListener('pagehide', leave)
  addEventListener('pageshow', show)
  return {
    post(m, transfer) {
      if (m.type === 'start') lastStart = m
      if ('id' in m && m.type !== 'cancel') unanswered.set(m.id, m)
      if (m.type === 'cancel') unanswered.delete(m.id)
      port.postMessage(m, transfer)
    },
    close() {
      clearTimeout(watchdog)
      removeEventListener('pagehide', leave)
      removeEventListener('pageshow', show)
      leave()
      port.close()
    },
  }
}

/** How long a page waits for a shared worker to say it serves the page's port. */
const JOIN_TIMEOUT_MS = 10_000

/**
 * A `Worker` stand-in that connects on the first `start` (the database name decides what it joins):
 * messages before it wait; `terminate` leaves.
 */
function lazyWorker(
  connect: (dbName: string, deliver: (m: FromWorker) => void, fail: (msg: string) => void) => Endpoint,
): Worker {
  let endpoint: Endpoint | null = null
  let ended = false
  const before: [ToWorker, Transferable[]][] = []
  const self = {
    onmessage: null as ((ev: MessageEvent<FromWorker>) => void) | null,
    onerror: null as ((ev: ErrorEvent) => void) | null,
    postMessage(m: ToWorker, transfer: Transferable[] = []) {
      if (ended) return
      if (endpoint) return endpoint.post(m, transfer)
      before.push([m, transfer])
      if (m.type !== 'start') return
      endpoint = connect(
        m.dbName,
        (data) => self.onmessage?.(new MessageEvent('message', { data })),
        (message) => self.onerror?.(new ErrorEvent('error', { message })),
      )
      for (const [b, t] of before.splice(0)) endpoint.post(b, t)
    },
    terminate() {
      ended = true
      endpoint?.close()
      endpoint = null
    },
  }
  return self as unknown as Worker
}

/** `auto`: a SharedWorker where the browser has one, else a leader tab. */
export const resolveSharing = (s: Sharing | undefined): Exclude<Sharing, 'auto'> =>
  !s || s === 'auto' ? (typeof SharedWorker === 'function' ? 'shared-worker' : 'leader') : s

export function workerSource(
  o: Pick<LightClientOptions, 'worker' | 'workerUrl' | 'sharedWorkerUrl' | 'sharing'>,
): WorkerSource {
  let role: Role = null
  return {
    create() {
      const kind = o.worker ? 'off' : resolveSharing(o.sharing)
      if (kind === 'off') {
        role = 'dedicated'
        return o.worker ? o.worker() : dedicatedWorker(o.workerUrl)
      }
      if (kind === 'shared-worker') {
        role = 'shared-worker'
        return lazyWorker((db, deliver, fail) => connectShared(db, deliver, fail, o.sharedWorkerUrl))
      }
      return lazyWorker((db, deliver) =>
        connectLeader(db, deliver, {
          dedicated: () => dedicatedWorker(o.workerUrl),
          onRole: (r) => {
            role = r
            // index.html's early worker is for a leader: a follower ends it unused.
            if (r === 'follower') (globalThis as { rootsyncWorker?: Worker }).rootsyncWorker?.terminate()
            if (r === 'follower') delete (globalThis as { rootsyncWorker?: Worker }).rootsyncWorker
          },
        }),
      )
    },
    role: () => role,
  }
}
