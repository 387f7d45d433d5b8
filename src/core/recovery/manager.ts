/**
 * The recovery manager (seed §7.2 `StateRecoveryManager`): tries the configured strategies in order
 * until one leaves the target's state complete, verifies it, and only then marks it complete.
 *
 * Each attempt is reported (strategy, outcome, typed reason, time, bytes, nodes, blocks). A strategy
 * that cannot apply says so (`NotApplicableError`) before changing anything; one that fails leaves
 * only verified nodes and its own resumable progress behind. If none succeeds the caller gets
 * `StateRecoveryFailed` with every attempt, and no completion marker was written.
 *
 * Security considerations: the target is a verified header; strategies only add nodes that hash to
 * what that header commits to. The manager still re-checks the result (a full walk by default,
 * `finalCheck`) before it writes the completion marker — META.stateRoot, the cleared repair flag,
 * the report and the snapshot record, in ONE atomic write — so a kill at any point leaves either the
 * old record or the new, complete one.
 */
import { toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import type { LightPeer } from '../light/peers.ts'
import { META } from '../meta-keys.ts'
import { rlpEncode } from '../rlp.ts'
import type { StateStore } from '../store.ts'
import { TaskStoppedError, throwIfStopped } from '../task.ts'
import { checkRecovered } from './final-check.ts'
import {
  type AttemptReport,
  DEFAULT_RECOVERY_OPTIONS,
  NotApplicableError,
  type RecoveryCause,
  type RecoveryCounters,
  type RecoveryEvent,
  type RecoveryOptions,
  type RecoveryReport,
  type RecoveryStrategy,
  StateRecoveryFailed,
  type StrategyContext,
  type TargetView,
} from './types.ts'

export interface RecoverDeps {
  store: StateStore
  clock: Clock
  chainId: number
  peers: () => LightPeer[]
  /** The strategies to try, in order. */
  strategies: readonly RecoveryStrategy[]
  options?: Partial<RecoveryOptions>
  emit: (e: RecoveryEvent) => void
  /** A peer proved wrong during an attempt (the driver's ledger charges it). */
  charge: (peer: string, reason: string) => void
  /** More records for the completion batch (the light client's snapshot record, its head). */
  completionRecords?: (target: TrustedHeader, nodes: number) => Promise<[string, Uint8Array | null][]>
}

/** How often, at most, `recovery-progress` is emitted. */
const PROGRESS_MS = 250

export const targetView = (t: TrustedHeader): TargetView => ({
  height: t.header.number,
  root: toHex(t.header.stateRoot),
  hash: toHex(t.hash),
})

/** The attempt's reason as reported: the error's code and message (typed errors keep their code). */
function reasonOf(e: unknown): { code: string; message: string } {
  if (e instanceof RootsyncError) return { code: e.code, message: e.message }
  return { code: 'RECOVERY_ERROR', message: (e as Error)?.message ?? String(e) }
}

/**
 * Restores a complete, verified state at `target`; returns the report (also stored under
 * META.recovery). Throws `StateRecoveryFailed` when every strategy failed or did not apply, and the
 * signal's reason when stopped.
 */
export async function recoverState(
  target: TrustedHeader,
  why: RecoveryCause,
  deps: RecoverDeps,
  signal: AbortSignal,
): Promise<RecoveryReport> {
  const options: RecoveryOptions = { ...DEFAULT_RECOVERY_OPTIONS, ...deps.options }
  const { clock, store, emit } = deps
  const report: RecoveryReport = {
    at: clock.now(),
    why,
    target: targetView(target),
    strategy: null,
    attempts: [],
  }
  emit({
    type: 'recovery-started',
    why,
    target: report.target,
    strategies: deps.strategies.map((s) => s.name),
  })

  for (const strategy of deps.strategies) {
    throwIfStopped(signal, 'state recovery')
    const counters: RecoveryCounters = { bytes: 0, nodes: 0, blocks: 0 }
    const started = clock.now()
    let lastProgress = -Infinity
    const ctx: StrategyContext = {
      target,
      chainId: deps.chainId,
      store,
      clock,
      peers: deps.peers,
      signal,
      counters,
      options,
      progress(phase) {
        const now = clock.now()
        if (now - lastProgress < PROGRESS_MS) return
        lastProgress = now
        emit({ type: 'recovery-progress', strategy: strategy.name, phase, ...counters })
      },
      charge: deps.charge,
    }
    emit({ type: 'recovery-attempt-started', strategy: strategy.name })
    const attempt = (outcome: AttemptReport['outcome'], reason: AttemptReport['reason']): AttemptReport => ({
      strategy: strategy.name,
      outcome,
      reason,
      ms: clock.now() - started,
      ...counters,
    })
    try {
      await strategy.run(ctx)
      ctx.progress('verifying')
      await checkRecovered(store, target.header.stateRoot, options, signal)
    } catch (e) {
      if (signal.aborted || e instanceof TaskStoppedError) {
        const a = attempt('failed', { code: 'TASK_STOPPED', message: 'recovery stopped' })
        report.attempts.push(a)
        emit({ type: 'recovery-attempt', attempt: a })
        throw signal.aborted ? signal.reason : e
      }
      const a = attempt(e instanceof NotApplicableError ? 'not-applicable' : 'failed', reasonOf(e))
      report.attempts.push(a)
      emit({ type: 'recovery-attempt', attempt: a })
      continue
    }
    const a = attempt('recovered', null)
    report.attempts.push(a)
    report.strategy = strategy.name
    // The completion marker, last and in one atomic write with what it describes.
    const extra = (await deps.completionRecords?.(target, counters.nodes)) ?? []
    await store.write({
      meta: [
        [META.stateRoot, rlpEncode([target.header.stateRoot, target.header.number])],
        [META.repair, null],
        [META.snapshotProgress, null],
        [META.replayProgress, null],
        [META.recovery, reportBytes(report)],
        ...extra,
      ],
    })
    emit({ type: 'recovery-attempt', attempt: a })
    emit({ type: 'recovery-finished', report })
    return report
  }
  // Nothing was marked complete; the report of the failed recovery is kept for the UI.
  await store.write({ meta: [[META.recovery, reportBytes(report)]] })
  emit({ type: 'recovery-finished', report })
  throw new StateRecoveryFailed(report.attempts)
}

const reportBytes = (r: RecoveryReport) => new TextEncoder().encode(JSON.stringify(r))

/** The last recovery's report (META.recovery), or null (none, or unreadable). */
export async function readRecoveryReport(store: Pick<StateStore, 'getMeta'>): Promise<RecoveryReport | null> {
  const b = await store.getMeta(META.recovery)
  if (!b) return null
  try {
    const r = JSON.parse(new TextDecoder().decode(b)) as RecoveryReport
    return r && Array.isArray(r.attempts) && typeof r.at === 'number' ? r : null
  } catch {
    return null
  }
}
