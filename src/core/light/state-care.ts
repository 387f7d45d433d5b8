/**
 * The following client's care of its stored state: local snapshots (every completed state recorded,
 * kept by pruning), checks (a sampled one after a warm start, the full walk of "Verify and repair"),
 * and recovery through the recovery manager's strategies at a verified head.
 *
 * Security considerations: checks only report (events `state-check`); the state is flagged by the
 * driver and never marked complete here — the recovery manager does that, after verifying the
 * result. Peers a strategy proves wrong are banned through the session's ledger.
 */
import { toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import type { Clock } from '../clock.ts'
import { type DamageRecord, findDamage, sampleCheck } from '../recovery/integrity.ts'
import { readRecoveryReport, recoverState } from '../recovery/manager.ts'
import { readSnapshots, snapshotEntriesFor, snapshotRoots } from '../recovery/snapshots.ts'
import { strategiesNamed } from '../recovery/strategies.ts'
import {
  DEFAULT_RECOVERY_OPTIONS,
  DEFAULT_STRATEGIES,
  type RecoveryCause,
  type RecoveryOptions,
  type RecoveryReport,
  type StrategyName,
} from '../recovery/types.ts'
import type { StateStore } from '../store.ts'
import type { LightEvent } from './events.ts'
import type { PeerSource, Session } from './session.ts'

export interface StateCareDeps {
  store: StateStore
  clock: Clock
  session: Session
  peers: PeerSource
  emit: (e: LightEvent) => void
  recovery?: { strategies?: readonly StrategyName[]; options?: Partial<RecoveryOptions> }
}

export interface StateCare {
  /** The last recovery (loaded from the store by `load`, then this session's). */
  lastRecovery(): RecoveryReport | null
  load(): Promise<void>
  /** Records the completed state under `h` as the newest local snapshot. */
  recordSnapshot(h: TrustedHeader, nodes: number): Promise<void>
  /** Roots pruning keeps besides the live one. */
  snapshotRoots(): Promise<Uint8Array[]>
  /** A sampled check of the state under `root`; the damage found (empty: none). */
  sampled(root: Uint8Array, signal: AbortSignal): Promise<DamageRecord[]>
  /** The full walk of the state under `root`, with progress; the damage found. */
  full(root: Uint8Array, signal: AbortSignal): Promise<DamageRecord[]>
  /** Restores the state at `h` (throws `StateRecoveryFailed` when every strategy failed). */
  recover(h: TrustedHeader, why: RecoveryCause, signal: AbortSignal): Promise<RecoveryReport>
}

const damageView = (ds: DamageRecord[]) => ds.map((x) => ({ problem: x.problem, hash: x.hash, path: x.path }))

export function stateCare(d: StateCareDeps): StateCare {
  const { store, session: s, emit } = d
  const options: RecoveryOptions = { ...DEFAULT_RECOVERY_OPTIONS, ...d.recovery?.options }
  const strategies = strategiesNamed(d.recovery?.strategies ?? DEFAULT_STRATEGIES)
  let last: RecoveryReport | null = null

  const snapshotEntries = (h: TrustedHeader, nodes: number) =>
    snapshotEntriesFor(store, h, nodes, options.keepSnapshots)

  return {
    lastRecovery: () => last,
    async load() {
      last = await readRecoveryReport(store)
    },
    async recordSnapshot(h, nodes) {
      await store.write({ meta: await snapshotEntries(h, nodes) })
    },
    snapshotRoots: async () => snapshotRoots(await readSnapshots(store)),
    async sampled(root, signal) {
      const r = await sampleCheck(store, root, { paths: options.samplePaths, signal })
      emit({
        type: 'state-check',
        mode: 'sampled',
        root: toHex(root),
        nodes: r.nodes,
        done: true,
        damage: damageView(r.damage),
      })
      return r.damage
    },
    async full(root, signal) {
      const view = { type: 'state-check' as const, mode: 'full' as const, root: toHex(root) }
      const r = await findDamage(store, root, {
        signal,
        onProgress: (t) => emit({ ...view, nodes: t.nodes, done: false, damage: [] }),
      })
      emit({ ...view, nodes: r.nodes, done: true, damage: damageView(r.damage) })
      return r.damage
    },
    async recover(h, why, signal) {
      emit({ type: 'phase', phase: 'recovering', detail: `state at block ${h.header.number}` })
      await store.ready()
      try {
        last = await recoverState(
          h,
          why,
          {
            store,
            clock: d.clock,
            chainId: s.cp.chainId,
            peers: () => d.peers.list().filter((p) => !s.ledger.isBanned(p.id)),
            strategies,
            options: {
              ...options,
              requestTimeoutMs: d.recovery?.options?.requestTimeoutMs ?? s.o.requestTimeoutMs,
              sync: options.sync ?? s.o.sync,
            },
            emit,
            charge: (peer, reason) => s.ledger.ban(peer, reason),
            completionRecords: (t, nodes) => snapshotEntries(t, nodes),
          },
          signal,
        )
        return last
      } catch (e) {
        // A failed recovery's report is stored too (the UI shows what was tried).
        const stored = await readRecoveryReport(store)
        if (stored && stored.at >= (last?.at ?? -1)) last = stored
        throw e
      }
    },
  }
}
