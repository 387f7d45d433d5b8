/**
 * The following light client (the browser worker): trust a checkpoint, verify the header chain to
 * the peers' head, sync the state it commits to, then keep up with the chain and prune older states.
 *
 * Warm start: the newest verified header is kept in the store with its quorum signatures; it is
 * trusted again only after they are re-checked (a tampered one is ignored: trust restarts from the
 * checkpoint). If the state under it is complete, reads answer from the store at once, before any
 * peer is reached (and offline).
 *
 * Security considerations: the only root of trust is the configured checkpoint. Peers are untrusted:
 * headers are linked and quorum-checked before a state root is used (a peer whose headers do not
 * verify is banned and another asked), every synced node is hashed, reads are answered against a
 * verified header's root. Reads wait for the peers' head, not the checkpoint on the way there: an
 * answer at the checkpoint's block would be verified but stale. A compaction that finds the stored
 * state damaged marks it for repair: it is then never reported complete nor read from.
 *
 * Recovery (core/recovery): a damaged or flagged state is restored by the recovery manager's
 * strategies at the verified head — on the repair flag (an earlier session, a read that met damage,
 * a failed compaction), when the sampled check after a warm start finds damage, and on the user's
 * "Verify and repair". Reads keep going by proof meanwhile. Every completed state is recorded as a
 * local snapshot, and pruning keeps the snapshots' nodes.
 *
 * Consistency checks (consistency-care.ts, core/consistency): the verified head's complete state is
 * compared with several peers — periodically when `consistency` is given, and on request — as a job
 * of the same one-at-a-time queue as sync steps and recoveries. Equivocation evidence halts reads
 * (`head()`, `localState()`: EQUIVOCATION_HALT) at its height and above until it is acknowledged.
 */
import { fromHex, toHex } from '../bytes.ts'
import type { LightBlock, TrustedHeader } from '../chain/header.ts'
import { sleep } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import type { RecoveryCause, RecoveryReport } from '../recovery/types.ts'
import { StateIntegrityError } from '../sync/verify.ts'
import { startTask } from '../task.ts'
import type { LightClient, LightClientDeps } from './client.ts'
import { consistencyCare } from './consistency-care.ts'
import type { Answered } from './peers.ts'
import { createSession, headerView } from './session.ts'
import { stateCare } from './state-care.ts'
import { syncState } from './state-step.ts'
import { lightSummary } from './summary.ts'
import { loadTrust, type RepairRecord, repairRecord } from './trust.ts'

export type { LightClient, LightClientDeps, VerifyRepairResult } from './client.ts'

/**
 * Failures retrying cannot help: a full store (until space is freed), a trust anchor older than the
 * trusting period or configured validators that are not the checkpoint's (until the configuration
 * changes).
 */
const WAITS_FOR_USER = new Set(['STORE_FULL', 'TRUST_EXPIRED', 'CHECKPOINT_VALIDATORS'])

export function startLightClient(d: LightClientDeps): LightClient {
  const { store, clock, emit } = d
  const s = createSession(d)
  let completeRoot: string | null = null
  let repair: RepairRecord | null = null
  /** Why the state needs repair (for the recovery's report). */
  let repairCause: RecoveryCause = 'repair-flag'
  const care = stateCare({ store, clock, session: s, peers: d.peers, emit, recovery: d.recovery })
  /** One state job at a time: a sync step, a recovery, a user's verify-and-repair, a consistency check. */
  let exclusive: Promise<unknown> = Promise.resolve()
  const serially = <T>(job: () => Promise<T>): Promise<T> => {
    const run = exclusive.then(job, job)
    exclusive = run.catch(() => {})
    return run
  }
  const consistency = consistencyCare({
    store,
    clock,
    checkpoint: s.cp,
    settings: d.consistency ?? { options: { intervalMs: 0 } },
    emit,
    serially,
    // The verified head, when its state is complete here (checked as it stands: not while flagged).
    target() {
      const h = s.head()
      if (!h || repair || completeRoot !== toHex(h.header.stateRoot)) return null
      return {
        header: h,
        peers: d.peers.list(),
        ledger: s.ledger,
        recover: (signal) => recover(h, 'consistency', signal),
      }
    },
  })
  /** Nodes of the newest complete state, as last counted (0: not yet known). */
  let liveNodes = 0
  let readable = false
  const headWaiters = new Set<() => void>()
  let wakeRetry: (() => void) | null = null
  let wakeOffline: (() => void) | null = null
  const unsubscribe = d.peers.onJoin?.(() => wakeOffline?.()) ?? (() => {})

  const emitStore = () => {
    const st = store.stats()
    emit({ type: 'store', nodes: st.nodes, bytes: st.bytes, staged: st.staged })
  }

  function announce(h: LightBlock, fromStore: boolean): void {
    emit({ type: 'header', header: headerView(h), fromStore, peersHead: s.peersHead() })
    if (fromStore || h.header.number >= s.peersHead()) {
      readable = true
      for (const w of headWaiters) w()
    }
  }

  /**
   * The stored state is damaged (a compaction's walk, or a read, met a missing or corrupt node): it
   * is flagged (persisted, so the next session knows) and no longer reported complete or read from.
   */
  async function markRepair(r: RepairRecord, cause: RecoveryCause = 'read-damage'): Promise<void> {
    if (repair) return
    repair = r
    repairCause = cause
    completeRoot = null
    await store.write({ meta: [repairRecord(r)] })
    announceRepair()
  }

  function announceRepair(): void {
    emit({ type: 'repair-needed', reason: repair!.reason, hash: repair!.hash })
    emit({ type: 'phase', phase: 'needs-repair', detail: repair!.reason })
  }

  async function warmStart(): Promise<void> {
    const [t] = await Promise.all([
      loadTrust(store, s.cp, emit, false, clock, s.o.skip),
      care.load(),
      consistency.load(),
    ])
    repair = t.repair
    // A flag from an earlier session: say so at once (the UI shows it; reads go by proof).
    if (repair) announceRepair()
    if (!t.head) return
    s.seed(t.head, t.path)
    const complete =
      !repair &&
      t.synced &&
      t.synced.height === t.head.header.number &&
      toHex(t.synced.root) === toHex(t.head.header.stateRoot)
    announce(t.head, true)
    if (complete) {
      completeRoot = toHex(t.synced!.root)
      emit({ type: 'synced', root: completeRoot, height: t.synced!.height, nodes: 0, skipped: 0, ms: 0 })
    }
  }

  /** Peers on our chain; waits (saying so) while there are none. */
  async function connected(signal: AbortSignal): Promise<Answered[]> {
    for (let wait = 1000; ; wait = Math.min(wait * 2, 15_000)) {
      const answered = await s.status(signal)
      if (answered.length) return answered
      emit({ type: 'offline', retryInMs: wait, answeringFrom: completeRoot ? s.head()!.header.number : null })
      emit({ type: 'phase', phase: 'offline' })
      await Promise.race([sleep(clock, wait, signal), new Promise<void>((r) => (wakeOffline = r))])
      wakeOffline = null
    }
  }

  /**
   * Following stores each block's changed nodes beside the old ones; once the store holds twice the
   * live state's nodes (+ slack), whatever the newest complete root does not reach is dropped. The
   * cost, one walk of the live state, is paid once per live-state-sized amount of change.
   */
  async function prune(root: Uint8Array, signal: AbortSignal): Promise<void> {
    const nodes = store.stats().nodes
    if (!liveNodes) {
      liveNodes = nodes
      return
    }
    if (nodes < liveNodes * 2 + s.o.pruneSlack) return
    emit({ type: 'phase', phase: 'pruning', detail: `${nodes - liveNodes}+ nodes of older states` })
    // The local snapshots' states are kept: recovery may start from one.
    const snaps = await care.snapshotRoots()
    const r = await store.compact([root, ...snaps.filter((x) => toHex(x) !== toHex(root))], { signal })
    liveNodes = r.kept
    emit({ type: 'pruned', dropped: r.dropped, kept: r.kept })
  }

  /**
   * Restores the state at `h` with the recovery strategies; on success the repair flag is gone (the
   * manager cleared it in its completion write) and the state is complete and readable again.
   */
  async function recover(h: TrustedHeader, why: RecoveryCause, signal: AbortSignal): Promise<RecoveryReport> {
    try {
      const report = await care.recover(h, why, signal)
      repair = null
      completeRoot = toHex(h.header.stateRoot)
      emit({ type: 'synced', root: completeRoot, height: h.header.number, nodes: 0, skipped: 0, ms: 0 })
      emit({ type: 'phase', phase: 'synced', detail: completeRoot })
      return report
    } finally {
      emitStore()
    }
  }

  /**
   * After a warm start has announced the stored state readable (so the first answer does not wait
   * for it): a sampled check of it. Damage flags the state; the next step recovers it.
   */
  async function startupCheck(signal: AbortSignal): Promise<void> {
    if (!completeRoot) return
    const first = (await care.sampled(s.head()!.header.stateRoot, signal))[0]
    if (first)
      await markRepair(
        {
          reason: `sampled check: ${first.problem} node ${first.hash} at path '${first.path}'`,
          hash: first.hash,
        },
        'startup-check',
      )
  }

  /** One step towards the peers' head: verify headers to it and sync its state. */
  async function advance(signal: AbortSignal): Promise<void> {
    const answered = await connected(signal)
    const h = await s.verify(signal, answered, 'latest')
    announce(h, false)
    if (repair) {
      // Headers are still followed (reads by proof use them); the damaged state is not synced over
      // as if it were sound: the recovery strategies restore it at the verified head.
      await recover(h, repairCause, signal)
      return
    }
    if (completeRoot === toHex(h.header.stateRoot)) return
    await store.ready()
    const st = store.stats()
    if (st.nodes || st.staged) emit({ type: 'resumed', storedNodes: st.nodes, stagedNodes: st.staged })
    try {
      const r = await syncState(
        { store, clock, ledger: s.ledger, emit, sync: s.o.sync },
        h,
        answered,
        s.late,
        signal,
      )
      completeRoot = r.root
      await care.recordSnapshot(h, r.nodes)
      await prune(h.header.stateRoot, signal)
      emit({ type: 'synced', root: r.root, height: r.height, nodes: r.nodes, skipped: r.skipped, ms: r.ms })
      emit({ type: 'phase', phase: 'synced', detail: r.root })
    } finally {
      emitStore()
    }
  }

  async function run(signal: AbortSignal): Promise<never> {
    try {
      await warmStart()
      // Periodic consistency checks: a sub-task, stopped with the driver.
      startTask('consistency checks', (sig) => consistency.periodic(sig), signal)
      emit({ type: 'phase', phase: 'connecting', detail: `${d.peers.list().length} configured peers` })
      let checked = false
      for (let failures = 0; ; ) {
        try {
          if (!checked) {
            checked = true
            await serially(() => startupCheck(signal))
          }
          await serially(() => advance(signal))
          failures = 0
          await sleep(clock, s.o.followMs, signal)
        } catch (e) {
          if (signal.aborted) throw signal.reason
          if (e instanceof StateIntegrityError) {
            await markRepair({ reason: e.message, hash: e.hash })
            continue
          }
          const err = e as RootsyncError
          const code = err.code ?? 'LIGHT_FAILED'
          // Retrying cannot help until the user acts (frees space, sets a fresh checkpoint): wait.
          const retryInMs = WAITS_FOR_USER.has(code) ? null : Math.min(1000 * 2 ** failures++, 15_000)
          emit({ type: 'error', code, message: err.message, retryInMs })
          emit({
            type: 'phase',
            phase: repair ? 'needs-repair' : completeRoot ? 'synced' : 'failed',
            detail: err.message,
          })
          if (retryInMs === null) {
            await new Promise<void>((resolve, reject) => {
              wakeRetry = resolve
              signal.addEventListener('abort', () => reject(signal.reason), { once: true })
            })
            wakeRetry = null
          } else await sleep(clock, retryInMs, signal)
        }
      }
    } finally {
      unsubscribe()
      s.close()
      emit({ type: 'phase', phase: 'stopped' })
    }
  }

  const task = startTask('light client', run)
  return {
    task,
    async head() {
      if (!readable) {
        let cancel = () => {}
        let done = () => {}
        await new Promise<void>((resolve, reject) => {
          done = resolve
          headWaiters.add(done)
          cancel = clock.setTimer(s.o.headWaitMs, () => {
            const h = s.head()
            reject(
              new RootsyncError(
                'NO_VERIFIED_HEADER',
                h
                  ? `still verifying headers after ${s.o.headWaitMs / 1000} s (at block ${h.header.number} of ${s.peersHead()}); try again shortly`
                  : `no header verified in ${s.o.headWaitMs / 1000} s: no reachable peer on this chain yet`,
              ),
            )
          })
        }).finally(() => {
          cancel()
          headWaiters.delete(done)
        })
      }
      const h = s.head()!
      consistency.guard(h.header.number)
      return { ...headerView(h), root: h.header.stateRoot, full: h.header }
    },
    localState(root) {
      if (repair || completeRoot !== toHex(root)) return null
      // Reads use the head's root: its height is what a halt is checked against.
      consistency.guard(s.head()?.header.number ?? 0)
      return store
    },
    retry: () => wakeRetry?.(),
    markRepair: (r) => markRepair(r, 'read-damage'),
    peers: () => lightSummary(s.ledger),
    lastRecovery: () => care.lastRecovery(),
    checkConsistency: () => consistency.checkNow(task.signal),
    consistencyResults: () => consistency.results(),
    evidence: () => consistency.evidence(),
    acknowledgeEvidence: (id) => consistency.acknowledge(id),
    verifyAndRepair: () =>
      serially(async () => {
        const signal = task.signal
        const h = s.head()
        if (!h)
          throw new RootsyncError(
            'NO_VERIFIED_HEADER',
            'no verified header yet: connect to a peer first, then verify',
          )
        // The state last completed (the head's, or an older one the next step moves on from).
        let damage = 0
        if (completeRoot && !repair) {
          const found = await care.full(fromHex(completeRoot), signal)
          damage = found.length
          if (!damage) return { damage, report: null }
          const first = found[0]!
          await markRepair(
            { reason: `verify: ${first.problem} node ${first.hash}`, hash: first.hash },
            'user',
          )
        }
        return { damage, report: await recover(h, 'user', signal) }
      }),
  }
}
