/**
 * The sync worker's host: wires the light client (light-client.ts) to IndexedDB, to libp2p
 * WebSocket peers it dials itself and to WebRTC peers the page bridges in (bridged-peer.ts), and
 * answers the page's messages (src/api/worker-protocol.ts): the light client runs as a task that
 * `stop` ends cleanly and `start` resumes; each read runs under its own signal, which `cancel`
 * aborts; the light client's events go to the page unchanged; `verify-repair` runs the driver's
 * verify-and-repair (one at a time: the light client joins a second request to the running one);
 * `check-now`, `consistency-results`, `evidence` and `acknowledge-evidence` reach the driver's
 * consistency checks (answered like reads: a reply with the id, or `read-error`).
 * Everything heavy (hashing, decoding,
 * storage) happens here, off the page's main thread.
 */
import type { FromWorker, LightEvent, ToWorker, WorkerMilestone } from '../api/worker-protocol.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { pickAddr } from '../core/light/config.ts'
import { readRecoveryReport } from '../core/recovery/manager.ts'
import type { AttemptReport } from '../core/recovery/types.ts'
import { IdbNodeStore } from '../store/idb-store.ts'
import { getBlock } from './block-reads.ts'
import { BridgedPeer } from './bridged-peer.ts'
import { getCode } from './code-reads.ts'
import { peerSourceOf } from './driver-ports.ts'
import { createLightClient, type LightClient } from './light-client.ts'
import { createPeerRegistry } from './peer-registry.ts'
import { loadProofCache } from './proof-cache.ts'
import { getAccount, getProof, getStorage } from './verified-reads.ts'

/**
 * Where the worker's messages go: set by the entry (`serve`). A dedicated worker posts to its page;
 * a shared worker (or a leader tab) multiplexes one host over several pages, routing replies by id
 * and broadcasting everything else. Messages posted before `serve` (the first milestones) wait.
 */
let sink: ((m: FromWorker) => void) | null = null
const early: FromWorker[] = []
const post = (m: FromWorker) => (sink ? sink(m) : early.push(m))
/** Start-up milestones already reported: each once, for the page's performance marks. */
const reached = new Set<WorkerMilestone>()
const milestone = (name: WorkerMilestone) => {
  if (reached.has(name)) return
  reached.add(name)
  post({ type: 'timing', name, epochMs: performance.timeOrigin + performance.now() })
}
milestone('worker-start')

/**
 * Started at load, while the page is still fetching its configuration. A page whose
 * Content-Security-Policy forbids WebAssembly (no 'wasm-unsafe-eval') keeps the JavaScript keccak:
 * the same digests, several times slower.
 */
const keccakReady = useWasmKeccak().catch(() => {})

let libp2pImport: Promise<typeof import('./libp2p-browser.ts')> | null = null
const loadLibp2p = () => {
  libp2pImport ??= import('./libp2p-browser.ts').then((m) => {
    milestone('libp2p-loaded')
    return m
  })
  return libp2pImport
}
/** The databases of this origin when the worker started (null: the browser cannot list them). */
const databases = indexedDB.databases().then(
  (dbs) => dbs.map((d) => d.name ?? ''),
  () => null,
)
// A first visit has nothing stored to answer from: load libp2p at once, while the page fetches its
// configuration. A return visit loads it after answering from IndexedDB.
void databases.then((names) => {
  if (names && !names.some((n) => n.startsWith('rootsync-'))) void loadLibp2p()
})
const emit = (event: LightEvent) => {
  if (event.type === 'header') milestone('head-verified')
  post({ type: 'event', event })
}
const peers = createPeerRegistry((views) => post({ type: 'peers', peers: views }))
let client: LightClient | null = null
/** The database this worker serves (one per worker). */
let dbName: string | null = null
/** Reads that arrive before `start` finished opening the store. */
let ready: Promise<LightClient> | null = null
/** libp2p and the configured peers, once dialled. */
let net: Promise<void> | null = null
/** Reads in flight, by id: `cancel` aborts one. */
const reads = new Map<number, AbortController>()

/**
 * Reads are served as soon as the stored head is trusted again (warm start), before libp2p, the
 * node index or any peer: the first verified balance of a return visit needs only IndexedDB.
 */
async function start(m: Extract<ToWorker, { type: 'start' }>): Promise<LightClient> {
  // A first visit has no local answer to give: dial the peers while IndexedDB opens. A return
  // visit answers from IndexedDB first and connects when the driver first asks a peer.
  const first = (await databases)?.includes(m.dbName) === false
  const connect = () => {
    net ??= network(m)
    return net
  }
  if (first) connect().catch(() => {})
  // Reads hash little and do not wait for the wasm keccak (the sync does, in `network`).
  // A newer rootsync upgrading the database in another tab: the store closed itself; the pages hear why.
  const store = await IdbNodeStore.open(
    m.dbName,
    (e) => emit({ type: 'error', code: e.code, message: e.message, retryInMs: null }),
    // Write transactions in a worker of their own (the sync worker then spends ~38% less CPU per
    // node writing: bench:idb). A shared worker has no nested Worker in Chromium: it writes itself.
    {
      spawnWriter: () =>
        new Worker(new URL('./idb-writer.ts', import.meta.url), {
          type: 'module',
          name: 'rootsync-idb-writer',
        }),
    },
  )
  const cache = await loadProofCache(store)
  // The last recovery on record, before any event of this session (a recovery the driver runs
  // now reports itself with `recovery-finished`).
  post({ type: 'last-recovery', report: await readRecoveryReport(store) })
  const c = createLightClient({
    config: m.bootstrap,
    store,
    source: peerSourceOf(peers, m.bootstrap, connect, () => milestone('first-status')),
    peers,
    emit,
    cache,
    // Before the first head, the first peer that answers on our chain is used at once (others join
    // as they answer): a grace for slower peers would be added to every first answer. Later rounds
    // keep the default grace, so following sees every peer's head.
    options: { firstStatusGraceMs: 0 },
    recovery: m.recovery,
    consistency: m.consistency,
  })
  client = c
  c.start()
  return c
}

/**
 * libp2p and the configured WebSocket peers, each dialled at once: the light client's first status
 * round then finds the connections open (protocol requests reuse a peer's connection).
 */
async function network(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  // libp2p is most of this worker's code: loaded only when needed, so a return visit's first answer
  // does not wait for it to download and compile.
  const [{ createBrowserLibp2p, multiaddr, PeerClient }] = await Promise.all([loadLibp2p(), keccakReady])
  const node = await createBrowserLibp2p(true)
  milestone('node-created')
  for (const p of m.bootstrap.peers) {
    const addr = pickAddr(p, 'websocket')
    if (!addr) continue
    const ma = multiaddr(addr)
    peers.add({
      peerId: p.peerId,
      name: p.name,
      transport: 'websocket',
      addr,
      client: new PeerClient(node, ma, { timeoutMs: 10_000 }),
    })
    // A failed dial shows up in that first round, as the peer's status error.
    void node.dial(ma).catch(() => {})
  }
}

function answer<T>(
  id: number,
  work: (c: LightClient, signal: AbortSignal) => Promise<T>,
  reply: (a: T) => FromWorker,
): void {
  if (!ready) {
    post({ type: 'read-error', id, code: 'NOT_STARTED', message: 'the worker has not been started' })
    return
  }
  const ac = new AbortController()
  reads.set(id, ac)
  ready
    .then((c) => work(c, ac.signal))
    .then(
      (a) => reads.delete(id) && post(reply(a)),
      (e: Error & { code?: string }) =>
        reads.delete(id) &&
        post({ type: 'read-error', id, code: e.code ?? 'READ_FAILED', message: e.message }),
    )
}

function verifyRepair(id: number): void {
  if (!ready) {
    post({ type: 'verify-repair-error', id, code: 'NOT_STARTED', message: 'the worker has not been started' })
    return
  }
  ready
    .then((c) => c.verifyAndRepair())
    .then(
      (r) => post({ type: 'verify-repair-done', id, damage: r.damage, report: r.report }),
      (e: Error & { code?: string; attempts?: AttemptReport[] }) =>
        post({
          type: 'verify-repair-error',
          id,
          code: e.code ?? 'VERIFY_REPAIR_FAILED',
          message: e.message,
          ...(Array.isArray(e.attempts) ? { attempts: e.attempts } : {}),
        }),
    )
}

/**
 * Attaches the host to its output and returns the function that takes the page's messages. One
 * host per worker: the light client, the store and the peers are this module's.
 */
export function serve(out: (m: FromWorker) => void): (m: ToWorker) => void {
  sink = out
  for (const m of early.splice(0)) out(m)
  return receive
}

function receive(m: ToWorker): void {
  switch (m.type) {
    case 'start':
      milestone('start-received')
      if (!ready) {
        dbName = m.dbName
        ready = start(m)
        ready.catch((e: Error & { code?: string }) =>
          emit({ type: 'error', code: e.code ?? 'START_FAILED', message: e.message, retryInMs: null }),
        )
      } else if (m.dbName !== dbName) {
        emit({
          type: 'error',
          code: 'WORKER_BOUND',
          message: `this worker serves ${dbName}; start another worker for ${m.dbName}`,
          retryInMs: null,
        })
      } else
        void ready.then(
          (c) => c.start(),
          () => {},
        )
      break
    case 'stop':
      if (ready)
        void ready.then(
          (c) => c.stop(m.reason),
          () => {},
        )
      else emit({ type: 'phase', phase: 'stopped', detail: 'not started' })
      break
    case 'getAccount':
      answer(
        m.id,
        (c, signal) => getAccount(c, m.address, signal, m.block),
        (a) => {
          milestone('answer')
          return { type: 'account', id: m.id, answer: a }
        },
      )
      break
    case 'getStorage':
      answer(
        m.id,
        (c, signal) => getStorage(c, m.address, m.slot, signal, m.block),
        (a) => ({ type: 'storage', id: m.id, answer: a }),
      )
      break
    case 'getProof':
      answer(
        m.id,
        (c, signal) => getProof(c, m.address, m.slots, signal, m.block),
        (a) => ({ type: 'proof', id: m.id, answer: a }),
      )
      break
    case 'getCode':
      answer(
        m.id,
        (c, signal) => getCode(c, m.address, signal, m.block),
        (a) => ({ type: 'code', id: m.id, answer: a }),
      )
      break
    case 'getBlock':
      answer(
        m.id,
        (c, signal) => getBlock(c, m.block, signal),
        (a) => ({ type: 'block', id: m.id, answer: a }),
      )
      break
    case 'cancel': {
      const ac = reads.get(m.id)
      if (!ac) break
      reads.delete(m.id)
      ac.abort(new DOMException('the read was cancelled', 'AbortError'))
      post({ type: 'read-error', id: m.id, code: 'READ_CANCELLED', message: 'the read was cancelled' })
      break
    }
    case 'add-peer':
      // The driver hears of it (peerSourceOf's onJoin) and asks its status at once.
      peers.add({ ...m.peer, transport: 'webrtc', client: new BridgedPeer(m.peer.peerId, m.port, 10_000) })
      break
    case 'peer-closed':
      peers.close(`webrtc:${m.peerId}`)
      break
    case 'retry':
      client?.retry()
      break
    case 'verify-repair':
      verifyRepair(m.id)
      break
    case 'check-now':
      answer(
        m.id,
        (c) => c.checkConsistency(),
        (result) => ({ type: 'check-done', id: m.id, result }),
      )
      break
    case 'consistency-results':
      answer(
        m.id,
        (c) => c.consistencyResults(),
        (results) => ({ type: 'consistency-results', id: m.id, results }),
      )
      break
    case 'evidence':
      answer(
        m.id,
        (c) => c.evidence(),
        (evidence) => ({ type: 'evidence', id: m.id, evidence }),
      )
      break
    case 'acknowledge-evidence':
      answer(
        m.id,
        (c) => c.acknowledgeEvidence(m.evidence),
        () => ({ type: 'acknowledged', id: m.id }),
      )
      break
  }
}
