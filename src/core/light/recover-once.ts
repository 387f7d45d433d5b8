/**
 * The one-shot recovery (`rootsync recover`): trust the checkpoint (or the stored head, re-checked),
 * verify a header at the target height (or the peers' latest), then restore a complete, verified
 * state under it with the recovery manager's strategies, in the order given.
 *
 * Security considerations: the target root comes only from a verified header; strategies only store
 * nodes that hash to what it commits to, and the manager re-checks the result before marking it
 * complete. A peer a strategy proves wrong (a forged range, a block that does not match the chain)
 * is banned for the session through the same ledger as header liars.
 */
import type { TrustedHeader } from '../chain/header.ts'
import { recoverState } from '../recovery/manager.ts'
import { snapshotEntriesFor } from '../recovery/snapshots.ts'
import {
  DEFAULT_RECOVERY_OPTIONS,
  type RecoveryCause,
  type RecoveryOptions,
  type RecoveryReport,
  type RecoveryStrategy,
} from '../recovery/types.ts'
import type { StateStore } from '../store.ts'
import { startTask, type Task } from '../task.ts'
import type { LightPeer } from './peers.ts'
import { createSession, headerView, type Session, type SessionDeps } from './session.ts'
import { type LightPeerSummary, lightSummary } from './summary.ts'
import { loadTrust } from './trust.ts'

export interface RecoverOnceOptions {
  target: 'latest' | number
  strategies: readonly RecoveryStrategy[]
  recovery?: Partial<RecoveryOptions>
  why?: RecoveryCause
  signal?: AbortSignal
}

export interface RecoverSummary {
  report: RecoveryReport
  target: TrustedHeader
  peers: LightPeerSummary[]
}

export function recoverOnce(
  d: SessionDeps & { store: StateStore },
  o: RecoverOnceOptions,
): Task<RecoverSummary> {
  return startTask(
    'recover',
    async (signal) => {
      const s = createSession(d)
      try {
        // The repair flag does not stop a recovery: repairing is what it is for.
        const trust = await loadTrust(d.store, s.cp, d.emit, true, d.clock, s.o.skip)
        if (trust.head) {
          s.seed(trust.head, trust.path)
          d.emit({ type: 'header', header: headerView(trust.head), fromStore: true, peersHead: 0 })
        }
        d.emit({ type: 'phase', phase: 'connecting', detail: `${d.peers.list().length} peers` })
        const answered = await s.status(signal)
        const target = await s.verify(signal, answered, o.target)
        d.emit({ type: 'header', header: headerView(target), fromStore: false, peersHead: s.peersHead() })
        d.emit({ type: 'phase', phase: 'recovering', detail: `state at block ${target.header.number}` })
        const usable = new Set(answered.map((a) => a.peer.id))
        // Peers on our chain, minus any proven wrong since (a liar is not asked again).
        const recover = sessionRecovery(d, s, (p) => usable.has(p.id), o)
        const report = await recover(target, o.why ?? 'cli', signal)
        return { report, target, peers: lightSummary(s.ledger) }
      } finally {
        s.close()
      }
    },
    o.signal,
  )
}

/**
 * The recovery manager wired to a session: restores the state at a verified header with `o`'s
 * strategies, asking the peers `usable` accepts that the session's ledger has not banned, and banning
 * through that ledger the peers a strategy proves wrong. Shared by `recoverOnce` and the one-shot
 * consistency check (check-once.ts), which escalates to it.
 */
export function sessionRecovery(
  d: SessionDeps & { store: StateStore },
  s: Session,
  usable: (p: LightPeer) => boolean,
  o: Pick<RecoverOnceOptions, 'strategies' | 'recovery'>,
): (target: TrustedHeader, why: RecoveryCause, signal: AbortSignal) => Promise<RecoveryReport> {
  return (target, why, signal) =>
    recoverState(
      target,
      why,
      {
        store: d.store,
        clock: d.clock,
        chainId: s.cp.chainId,
        peers: () => d.peers.list().filter((p) => usable(p) && !s.ledger.isBanned(p.id)),
        strategies: o.strategies,
        options: { requestTimeoutMs: s.o.requestTimeoutMs, sync: s.o.sync, ...o.recovery },
        emit: d.emit,
        charge: (peer, reason) => s.ledger.ban(peer, reason),
        // The recovered state becomes a local snapshot, as the following client records it.
        completionRecords: (t, nodes) => snapshotEntriesFor(d.store, t, nodes, keepSnapshots(o)),
      },
      signal,
    )
}

const keepSnapshots = (o: Pick<RecoverOnceOptions, 'recovery'>) =>
  o.recovery?.keepSnapshots ?? DEFAULT_RECOVERY_OPTIONS.keepSnapshots
