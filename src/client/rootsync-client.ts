/**
 * rootsync for a page: starts the sync worker, brings in WebRTC peers through an injected page
 * bridge (workers cannot open RTCPeerConnections), and offers verified reads. The app's UI uses
 * exactly this; a wallet embeds it the same way:
 *
 *   const rs = createRootsyncClient({ bridge: () => import('…/src/page/webrtc-bridge.ts').then((m) => m.webRtcBridge) })
 *   rs.subscribe((e) => …)          // the light client's events (LightEvent), the peers table, WebRTC dials
 *   rs.start(config)                // BootstrapInfo: chain id, checkpoint, validators, peers
 *   const a = await rs.getAccount('0x…')   // a.source: 'local' | 'proof', a.header: what it is proven against
 *   await rs.stop()                 // sync and follow stop; reads still answer; start(config) resumes
 *   const { damage, report } = await rs.verifyAndRepair()   // full check, then recovery if damaged
 *   rs.lastRecovery()               // the last recovery's report (when, why, strategy, attempts)
 *   const r = await rs.checkConsistency()  // the state against several peers: r.discrepancies, r.repaired
 *   await rs.evidence()             // equivocation evidence; reads halt until acknowledgeEvidence(id)
 *
 * The client shares only the protocol (src/api/worker-protocol.ts) with the worker and the bridge;
 * it loads the worker by URL and the bridge through the `bridge` option, so an embedder that needs
 * no WebRTC peers never loads it. Every answer is verified in the worker against a header verified
 * from the checkpoint.
 */

import type {
  AccountAnswer,
  AttemptReport,
  BlockHeaderAnswer,
  BlockTag,
  BootstrapInfo,
  CodeAnswer,
  ConsistencyConfig,
  ConsistencyOptions,
  ConsistencyResult,
  EquivocationEvidence,
  FromWorker,
  LightEvent,
  PeerView,
  ProofAnswer,
  RecoveryConfig,
  RecoveryReport,
  StorageAnswer,
  ToWorker,
  VerifyRepairResult,
  WebRtcBridgeFn,
} from '../api/worker-protocol.ts'
import { BootstrapError, parseBootstrap, pickAddr } from '../core/light/config.ts'
import { errorFor, ReadError } from './errors.ts'
import { dedicatedWorker } from './worker-source.ts'

export { ConsistencyError, ReadError, RecoveryError } from './errors.ts'

/**
 * What subscribers hear: the light client's events (unchanged), the peers table, the page's WebRTC
 * dials, and the last recovery on record when the worker opens the store (`last-recovery`).
 */
export type ClientEvent =
  | LightEvent
  | { type: 'last-recovery'; report: RecoveryReport | null }
  | { type: 'peers'; peers: PeerView[] }
  | { type: 'webrtc'; peerId: string; event: 'connected' | 'failed' | 'closed'; message?: string }

export interface RootsyncClientOptions {
  /** Creates the sync worker (default: the bundled src/worker/sync-worker.ts, as a module worker). */
  worker?: () => Worker
  /**
   * Loads the page's WebRTC bridge (src/page/webrtc-bridge.ts `webRtcBridge`), called only when a
   * peer is reachable over WebRTC-direct alone. Without it such peers are skipped (a `webrtc`
   * event with `failed` says so).
   */
  bridge?: () => Promise<WebRtcBridgeFn>
  /** The recovery strategies in order and their options (default: the driver's). */
  recovery?: RecoveryConfig
  /**
   * Consistency checks against several peers (default: every 60 s, 3 peers, 32 sampled accounts,
   * auto-repair on; `intervalMs: 0`: only on `checkConsistency()`).
   */
  consistency?: Partial<ConsistencyOptions>
  /** Addresses (0x…) every consistency check includes (a malformed one: `BootstrapError`, field `watch`). */
  watch?: string[]
  /** Makes the checks' sampling repeatable: for tests only (peers could predict the sample). */
  consistencySeed?: string
}

export interface ReadOptions {
  /** Abandons the read: the worker stops working on it and the promise rejects (READ_CANCELLED). */
  signal?: AbortSignal
}

/** A read at a verified header: `block` (default `latest`) is the head or a height below it. */
export interface AtBlockOptions extends ReadOptions {
  block?: BlockTag
}

export interface RootsyncClient {
  /**
   * Starts the worker's light client. Again with the same configuration after `stop()`, it resumes
   * in the same worker; with another configuration, a new worker takes over (reads in flight move).
   */
  /** Throws `BootstrapError` (code BAD_BOOTSTRAP, `field` named) for a configuration that does not parse. */
  start(config: BootstrapInfo): void
  /** Stops sync, follow and prune cleanly (the store stays consistent); reads keep answering. */
  stop(): Promise<void>
  /** Rejects with `ReadError` (codes: `ReadErrorCode`, src/client/errors.ts). */
  getAccount(address: string, opts?: AtBlockOptions): Promise<AccountAnswer>
  getStorage(address: string, slot: string, opts?: AtBlockOptions): Promise<StorageAnswer>
  /** EIP-1186: the account and `slots` (at most 64) with the proof nodes they were verified from. */
  getProof(address: string, slots: string[], opts?: AtBlockOptions): Promise<ProofAnswer>
  /** The account's code (`0x` for none), whose keccak256 is the proven account's code hash. */
  getCode(address: string, opts?: AtBlockOptions): Promise<CodeAnswer>
  /** A verified header: `latest`, a height, or a 0x block hash. */
  getBlock(block: BlockTag | string, opts?: ReadOptions): Promise<BlockHeaderAnswer>
  subscribe(listener: (e: ClientEvent) => void): () => void
  /** Resume after a failure the worker waits on (a full store, once space is freed). */
  retry(): void
  /**
   * Checks every stored node of the state (events `state-check`, mode 'full'), then, if it is
   * damaged or incomplete, recovers it (events `recovery-*`, why 'user'). Resolves with the damage
   * found and the recovery's report (null: nothing to repair). Rejects with `RecoveryError`.
   * Lookups keep answering meanwhile (by proof while the state is being repaired).
   */
  verifyAndRepair(): Promise<VerifyRepairResult>
  /** The newest recovery's report (from the store at start, then each `recovery-finished`), or null. */
  lastRecovery(): RecoveryReport | null
  /**
   * Checks the local state against several peers now (events `consistency-*`): the verified head's
   * state root, and sampled (and watched) accounts by proof; local damage is repaired (unless
   * auto-repair is off); equivocation is kept as evidence and halts reads. Rejects with
   * `ConsistencyError`.
   */
  checkConsistency(): Promise<ConsistencyResult>
  /** The stored results of the last checks, newest first (they survive reloads). */
  consistencyResults(): Promise<ConsistencyResult[]>
  /** Equivocation evidence on record (verified again when loaded), acknowledged or not. */
  evidence(): Promise<EquivocationEvidence[]>
  /**
   * Acknowledges evidence `id`: reads at its height resume (a `halt` event says so) unless other
   * evidence halts them. While evidence is unacknowledged, reads reject with EQUIVOCATION_HALT.
   */
  acknowledgeEvidence(id: string): Promise<void>
  /** Ends the worker, deletes this chain's local database and starts again from the checkpoint. */
  clearData(): Promise<void>
  readonly dbName: string | null
  close(): void
}

/** One database per chain and genesis (or checkpoint), so two chains never mix their nodes. */
export const dbNameOf = (c: BootstrapInfo) =>
  `rootsync-${c.chainId}-${(c.genesisHash || c.checkpoint.hash).slice(2, 10)}`

/**
 * The bundled dedicated sync worker (worker-source.ts): the built app's index.html may start it
 * ahead of the page's own code (vite.config.ts, `self.rootsyncWorker`), and the first client adopts
 * that one, so the worker's code loads while the page's does. One sync per origin: `worker:
 * workerSource({ sharing }).create`.
 */
const defaultWorker = (): Worker => dedicatedWorker()

/**
 * Peers the worker cannot reach itself (WebRTC-direct only: no WebSocket address) are dialled on
 * the page and bridged in. WebSockets are preferred where both exist: they cost the page nothing.
 */
const webRtcOnly = (c: BootstrapInfo) =>
  c.peers.filter((p) => !pickAddr(p, 'websocket') && pickAddr(p, 'webrtc-direct'))

interface Pending {
  msg: Extract<ToWorker, { id: number }>
  resolve(a: never): void
  reject(e: Error): void
}

/** The typed error a request of this kind rejects with. */
const failure = (m: Pending['msg'], code: string, message: string, attempts?: AttemptReport[]) =>
  errorFor(m.type, code, message, attempts)

/** A reply's payload, by its type (the request it answers is found by `id`). */
function payload(m: Extract<FromWorker, { id: number }>): unknown {
  // Reads (account, storage, proof, code, block) answer with `answer`.
  if ('answer' in m) return m.answer
  switch (m.type) {
    case 'verify-repair-done':
      return { damage: m.damage, report: m.report }
    case 'check-done':
      return m.result
    case 'consistency-results':
      return m.results
    case 'evidence':
      return m.evidence
    default:
      return undefined
  }
}

export function createRootsyncClient(opts: RootsyncClientOptions = {}): RootsyncClient {
  const newWorker = opts.worker ?? defaultWorker
  const listeners = new Set<(e: ClientEvent) => void>()
  const pending = new Map<number, Pending>()
  let nextId = 1
  let worker: Worker | null = null
  let config: BootstrapInfo | null = null
  let bridge: { close(): Promise<void> } | null = null
  let lastRecovery: RecoveryReport | null = null
  const stopWaiters: (() => void)[] = []
  // Refused here, naming the field: the worker would fail to start on it.
  for (const a of opts.watch ?? [])
    if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new BootstrapError('watch', `"${a}" is not a 0x address`)
  const consistency: ConsistencyConfig = {
    options: opts.consistency,
    watch: opts.watch,
    seed: opts.consistencySeed,
  }

  const emit = (e: ClientEvent) => {
    for (const l of listeners) l(e)
  }
  const send = (m: ToWorker, transfer: Transferable[] = []) => worker?.postMessage(m, transfer)

  /** A worker not yet started: created early so its code loads while the config is fetched. */
  let spare: Worker | null = newWorker()
  if (!performance.getEntriesByName('rootsync:worker-created').length)
    performance.mark('rootsync:worker-created')

  function onMessage(m: FromWorker) {
    switch (m.type) {
      case 'account':
      case 'storage':
      case 'proof':
      case 'code':
      case 'block':
      case 'verify-repair-done':
      case 'check-done':
      case 'consistency-results':
      case 'evidence':
      case 'acknowledged':
      case 'read-error':
      case 'verify-repair-error': {
        const p = pending.get(m.id)
        pending.delete(m.id)
        if (!p) break
        if (m.type === 'read-error' || m.type === 'verify-repair-error')
          p.reject(
            failure(p.msg, m.code, m.message, m.type === 'verify-repair-error' ? m.attempts : undefined),
          )
        else p.resolve(payload(m) as never)
        break
      }
      case 'peers':
        emit(m)
        break
      case 'timing':
        // On the page's timeline (ms since navigation), beside the app's own marks.
        performance.mark(`rootsync:${m.name}`, { startTime: m.epochMs - performance.timeOrigin })
        break
      case 'last-recovery':
        lastRecovery = m.report
        emit(m)
        break
      case 'event':
        if (m.event.type === 'phase' && m.event.phase === 'stopped')
          for (const w of stopWaiters.splice(0)) w()
        if (m.event.type === 'recovery-finished') lastRecovery = m.event.report
        emit(m.event)
        break
    }
  }

  function spawn(c: BootstrapInfo) {
    worker = spare ?? newWorker()
    spare = null
    worker.onmessage = (ev: MessageEvent<FromWorker>) => onMessage(ev.data)
    worker.onerror = (e) =>
      emit({
        type: 'error',
        code: 'WORKER_CRASHED',
        message: e.message || 'the sync worker stopped',
        retryInMs: null,
      })
    send({ type: 'start', bootstrap: c, dbName: dbNameOf(c), recovery: opts.recovery, consistency })
    void bridgeWebRtc(c, worker)
  }

  /** The bridge and libp2p load lazily, only when such a peer is configured. */
  async function bridgeWebRtc(c: BootstrapInfo, w: Worker) {
    const peers = webRtcOnly(c)
    if (!peers.length) return
    try {
      if (!opts.bridge) throw new Error('no WebRTC bridge given to createRootsyncClient')
      const connect = await opts.bridge()
      if (worker !== w) return
      const b = await connect(peers, w, {
        allowLocal: true,
        onEvent: (e) => emit({ type: 'webrtc', peerId: e.peerId, event: e.type, message: e.message }),
      })
      if (worker === w) bridge = b
      else await b.close()
    } catch (e) {
      emit({ type: 'webrtc', peerId: '*', event: 'failed', message: (e as Error).message })
    }
  }

  /** A request that is not a read: rejects with its own typed error when there is no worker. */
  function request<T>(m: Pending['msg']): Promise<T> {
    if (!worker) return Promise.reject(failure(m, 'NOT_STARTED', 'start() the client first'))
    return read<T>(m)
  }

  function read<T>(m: Pending['msg'], signal?: AbortSignal): Promise<T> {
    if (!worker) return Promise.reject(new ReadError('NOT_STARTED', 'start() the client first'))
    if (signal?.aborted) return Promise.reject(new ReadError('READ_CANCELLED', 'the read was cancelled'))
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!pending.delete(m.id)) return
        send({ type: 'cancel', id: m.id })
        reject(new ReadError('READ_CANCELLED', 'the read was cancelled'))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const done = () => signal?.removeEventListener('abort', onAbort)
      pending.set(m.id, {
        msg: m,
        resolve: (a) => {
          done()
          resolve(a)
        },
        reject: (e) => {
          done()
          reject(e)
        },
      })
      send(m)
    })
  }

  /**
   * Ends the worker and the page's WebRTC bridge; reads in flight are rejected, or with `keepReads`
   * handed to the next worker.
   */
  async function terminate(keepReads = false) {
    const b = bridge
    bridge = null
    worker?.terminate()
    worker = null
    for (const w of stopWaiters.splice(0)) w()
    if (!keepReads) {
      for (const p of pending.values()) p.reject(failure(p.msg, 'STOPPED', 'the client was stopped'))
      pending.clear()
    }
    await b?.close()
  }

  return {
    get dbName() {
      return config && dbNameOf(config)
    },
    start(given) {
      // A configuration the worker could verify nothing with is refused here, at once, naming the
      // field (BootstrapError, code BAD_BOOTSTRAP) — the same parser the worker and the CLI use.
      const c = parseBootstrap(given)
      if (worker && config && JSON.stringify(c) === JSON.stringify(config)) {
        send({ type: 'start', bootstrap: c, dbName: dbNameOf(c), recovery: opts.recovery, consistency })
        return
      }
      // Started again with another configuration: the running worker gives way, and reads in
      // flight are asked again of the new one.
      if (worker) void terminate(true)
      config = c
      spawn(c)
      for (const p of pending.values()) send(p.msg)
    },
    stop() {
      if (!worker) return Promise.resolve()
      const stopped = new Promise<void>((r) => stopWaiters.push(r))
      send({ type: 'stop' })
      return stopped
    },
    getAccount: (address, o) =>
      read({ type: 'getAccount', id: nextId++, address, block: o?.block }, o?.signal),
    getStorage: (address, slot, o) =>
      read({ type: 'getStorage', id: nextId++, address, slot, block: o?.block }, o?.signal),
    getProof: (address, slots, o) =>
      read({ type: 'getProof', id: nextId++, address, slots, block: o?.block }, o?.signal),
    getCode: (address, o) => read({ type: 'getCode', id: nextId++, address, block: o?.block }, o?.signal),
    getBlock: (block, o) => read({ type: 'getBlock', id: nextId++, block }, o?.signal),
    subscribe(l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    retry: () => send({ type: 'retry' }),
    verifyAndRepair: () => request<VerifyRepairResult>({ type: 'verify-repair', id: nextId++ }),
    lastRecovery: () => lastRecovery,
    checkConsistency: () => request<ConsistencyResult>({ type: 'check-now', id: nextId++ }),
    consistencyResults: () => request<ConsistencyResult[]>({ type: 'consistency-results', id: nextId++ }),
    evidence: () => request<EquivocationEvidence[]>({ type: 'evidence', id: nextId++ }),
    acknowledgeEvidence: (id) => request<void>({ type: 'acknowledge-evidence', id: nextId++, evidence: id }),
    async clearData() {
      if (!config) return
      await terminate()
      const name = dbNameOf(config)
      await new Promise<void>((resolve, reject) => {
        const r = indexedDB.deleteDatabase(name)
        r.onsuccess = () => resolve()
        r.onerror = () => reject(new Error(`could not delete ${name}: ${r.error?.message}`))
        r.onblocked = () => reject(new Error(`${name} is still open in another tab; close it and try again`))
      })
      spawn(config)
    },
    close() {
      spare?.terminate()
      spare = null
      void terminate()
    },
  }
}
