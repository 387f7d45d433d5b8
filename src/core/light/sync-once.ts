/**
 * The one-shot light client (`rootsync sync`): trust the checkpoint (or the head a previous run
 * verified, after re-checking its signatures), verify headers to the target, sync the state there,
 * and return a summary naming every peer the run saw.
 *
 * Security considerations: as for the following client (follow.ts): the only root of trust is the
 * configured checkpoint; the state root synced is one a verified header commits to, and a `--root`
 * given by the user is only accepted if it is that root. A data directory synced from another
 * checkpoint is refused, and a state flagged for repair is not synced over as if it were sound.
 */
import { equals, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { snapshotEntriesFor } from '../recovery/snapshots.ts'
import { DEFAULT_RECOVERY_OPTIONS } from '../recovery/types.ts'
import type { NodeStore } from '../store.ts'
import { FailedToFetchStateNodes } from '../sync/errors.ts'
import { startTask, type Task } from '../task.ts'
import { createSession, headerView, type SessionDeps, type TrustCost } from './session.ts'
import { syncState } from './state-step.ts'
import { type LightPeerSummary, lightSummary } from './summary.ts'
import { loadTrust, RepairNeededError } from './trust.ts'

export interface SyncOnceOptions {
  /** 'latest': the highest head some peer can back; a number: that height. */
  target: 'latest' | number
  /** The state root the user expects at `target` (refused unless the verified header commits to it). */
  expectRoot?: Uint8Array
  /** Parent signal (Ctrl-C). */
  signal?: AbortSignal
}

export interface SyncSummary {
  root: string
  height: number
  headerHash: string
  /** Nodes and code blobs downloaded and verified in this run. */
  nodes: number
  /** Subtrees found already stored. */
  skipped: number
  bytes: number
  /** The whole run (status, headers, state), by the clock. */
  ms: number
  /** The state sync alone. */
  syncMs: number
  /** What verifying the head cost: light blocks fetched, signatures recovered, bisections, ms. */
  trust: TrustCost
  /** Every peer the run saw: served, refused at status or at the root probe, banned (`peerRows` for a flat view). */
  peers: LightPeerSummary[]
}

/** Moves to the newer head at most this many times when the target's state is pruned mid-sync. */
const MAX_TARGET_MOVES = 3

/** `store` needs only the node-store operations: a one-shot run neither prunes nor waits for an index. */
export function syncOnce(d: SessionDeps & { store: NodeStore }, o: SyncOnceOptions): Task<SyncSummary> {
  return startTask(
    'sync',
    async (signal) => {
      const started = d.clock.now()
      const s = createSession(d)
      try {
        const trust = await loadTrust(d.store, s.cp, d.emit, true, d.clock, s.o.skip)
        if (trust.repair) throw new RepairNeededError(trust.repair.reason)
        if (trust.head) {
          s.seed(trust.head, trust.path)
          d.emit({ type: 'header', header: headerView(trust.head), fromStore: true, peersHead: 0 })
        }
        for (let moves = 0; ; moves++) {
          d.emit({ type: 'phase', phase: 'connecting', detail: `${d.peers.list().length} peers` })
          const answered = await s.status(signal)
          const h = await s.verify(signal, answered, o.target)
          if (o.expectRoot && !equals(o.expectRoot, h.header.stateRoot))
            throw new RootsyncError(
              'ROOT_NOT_VERIFIED',
              `--root ${toHex(o.expectRoot)} is not the state root of the verified header at height ${h.header.number} (${toHex(h.header.stateRoot)})`,
            )
          d.emit({ type: 'header', header: headerView(h), fromStore: false, peersHead: s.peersHead() })
          try {
            const r = await syncState(
              { store: d.store, clock: d.clock, ledger: s.ledger, emit: d.emit, sync: s.o.sync },
              h,
              answered,
              s.late,
              signal,
            )
            // The complete state becomes a local snapshot a later `rootsync recover` may start from.
            await d.store.write({
              meta: await snapshotEntriesFor(d.store, h, r.nodes, DEFAULT_RECOVERY_OPTIONS.keepSnapshots),
            })
            d.emit({
              type: 'synced',
              root: r.root,
              height: r.height,
              nodes: r.nodes,
              skipped: r.skipped,
              ms: r.ms,
            })
            return {
              root: r.root,
              height: r.height,
              headerHash: toHex(h.hash),
              nodes: r.nodes,
              skipped: r.skipped,
              bytes: r.bytes,
              ms: d.clock.now() - started,
              syncMs: r.ms,
              trust: s.trustCost(),
              peers: lightSummary(s.ledger),
            }
          } catch (e) {
            // The chain moved on and the peers pruned the target: move to the new head (stored
            // subtrees are skipped, so this costs only what changed).
            if (e instanceof FailedToFetchStateNodes && o.target === 'latest' && moves < MAX_TARGET_MOVES) {
              d.emit({ type: 'target-moved', from: h.header.number, reason: e.message })
              continue
            }
            throw e
          }
        }
      } finally {
        s.close()
      }
    },
    o.signal,
  )
}
