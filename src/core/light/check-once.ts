/**
 * The one-shot consistency check (`rootsync check`): the local complete state, the verified header
 * at its height, and one check against sampled peers (core/consistency), escalating to the recovery
 * manager when the check finds damage a path repair cannot fix.
 *
 * Security considerations: the header the check compares against is verified here, never taken from
 * the store as is — the stored head is re-checked (its quorum signatures against the configured
 * validators) and used only when it is at the state's height; otherwise the chain is verified from
 * the checkpoint up to that height. A state without its completion record is not checked at all
 * (there is nothing complete to compare), and a state flagged for repair is `rootsync recover`'s job.
 */
import { toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import { checkConsistency } from '../consistency/check.ts'
import type { ConsistencyEvent, ConsistencyOptions, ConsistencyResult } from '../consistency/types.ts'
import { RootsyncError } from '../errors.ts'
import type { RecoveryOptions, RecoveryStrategy } from '../recovery/types.ts'
import type { StateStore } from '../store.ts'
import { startTask, type Task } from '../task.ts'
import { sessionRecovery } from './recover-once.ts'
import { createSession, type Session, type SessionDeps } from './session.ts'
import { type LightPeerSummary, lightSummary } from './summary.ts'
import { loadTrust } from './trust.ts'

/** The data directory holds no complete state to check. */
export class NoCompleteStateError extends RootsyncError {
  constructor(detail: string) {
    super('NO_SYNCED_STATE', detail)
    this.name = 'NoCompleteStateError'
  }
}

export interface CheckOnceOptions {
  consistency: ConsistencyOptions
  /** Uniform in [0, 1): the check's sampling (seeded for reproducible checks). */
  random: () => number
  /** Addresses always checked (20 bytes each). */
  watched: Uint8Array[]
  /** What the recovery manager tries when the check escalates, in order. */
  strategies: readonly RecoveryStrategy[]
  recovery?: Partial<RecoveryOptions>
  /** Wall-clock ms (results' `checkedAt`, evidence's `foundAt`). */
  now: () => number
  onConsistency: (e: ConsistencyEvent) => void
  signal?: AbortSignal
}

export interface CheckSummary {
  result: ConsistencyResult
  header: TrustedHeader
  peers: LightPeerSummary[]
}

export function checkOnce(d: SessionDeps & { store: StateStore }, o: CheckOnceOptions): Task<CheckSummary> {
  return startTask(
    'consistency',
    async (signal) => {
      const s = createSession(d)
      try {
        const trust = await loadTrust(d.store, s.cp, d.emit, true, d.clock, s.o.skip)
        if (trust.repair)
          throw new NoCompleteStateError(
            `the stored state is flagged for repair (${trust.repair.reason}): run rootsync recover first`,
          )
        if (!trust.synced)
          throw new NoCompleteStateError(
            'no complete state to check (never synced, or the sync was interrupted): run rootsync sync first',
          )
        if (trust.head) s.seed(trust.head, trust.path)
        const header = await headerAt(s, trust.head, trust.synced.height, signal)
        const recover = sessionRecovery(d, s, () => true, o)
        const result = await checkConsistency(
          {
            store: d.store,
            checkpoint: s.cp,
            header,
            peers: d.peers.list(),
            ledger: s.ledger,
            clock: d.clock,
            random: o.random,
            watched: o.watched,
            recover: (sig) => recover(header, 'consistency', sig),
            now: o.now,
            emit: o.onConsistency,
          },
          o.consistency,
          signal,
        )
        return { result, header, peers: lightSummary(s.ledger) }
      } finally {
        s.close()
      }
    },
    o.signal,
  )
}

/**
 * The verified header at `height`: the stored head when it is there (already re-checked by
 * `loadTrust`), otherwise the chain verified from the checkpoint through the peers.
 */
async function headerAt(
  s: Session,
  head: TrustedHeader | null,
  height: number,
  signal: AbortSignal,
): Promise<TrustedHeader> {
  if (head && head.header.number === height) return head
  const answered = await s.status(signal)
  const h = await s.verify(signal, answered, height)
  if (h.header.number !== height)
    throw new RootsyncError(
      'NO_HEADER',
      `no peer served a verified header at block ${height} (got ${h.header.number}, ${toHex(h.hash)})`,
    )
  return h
}
