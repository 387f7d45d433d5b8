/**
 * The driver's state step: sync the state a verified header commits to, through the sync engine,
 * with the peers that claim to serve that height, plus any that answer later (and minus any whose
 * connection goes away); then hand the engine's summary of every peer it saw — used, refused at its
 * root probe and why, banned, rotated out — to the session's ledger.
 *
 * Security considerations: the root comes only from a verified header; the engine hashes every node
 * against it, and refuses a peer whose answer to its root probe is another node. Such a peer is
 * provably lying, and the ledger bans it for the session (peers.ts `absorb`).
 */
import { toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import type { Clock } from '../clock.ts'
import type { NodeStore } from '../store.ts'
import { FailedToFetchStateNodes, NoPeersWithTargetState } from '../sync/errors.ts'
import { type SyncResult, syncToState } from '../sync/state-sync.ts'
import type { SyncConfig, SyncPeer } from '../sync/types.ts'
import type { LightEvent } from './events.ts'
import type { Answered, PeerLedger } from './peers.ts'

export interface StateStepDeps {
  store: NodeStore
  clock: Clock
  ledger: PeerLedger
  emit: (e: LightEvent) => void
  sync?: Partial<SyncConfig>
}

/**
 * Peers that answer the status round after it was decided: queued until a sync runs, then offered
 * to it (the engine probes them for the root like the first ones). Peers whose connection went
 * away leave the running sync (a reconnect comes back through `add`).
 */
export interface LatePeers {
  add(a: Answered): void
  /** The peer's connection is gone (the peer source says so). */
  gone(id: string): void
  /** The engine's `joinPeers` for a sync at `height`. */
  joinFor(height: number): (offer: (p: SyncPeer) => void, leave: (id: string) => void) => () => void
}

export function latePeers(ledger: PeerLedger): LatePeers {
  const queued: Answered[] = []
  let current: { offer: (a: Answered) => void; leave: (id: string) => void } | null = null
  return {
    add(a) {
      if (current) current.offer(a)
      else queued.push(a)
    },
    gone(id) {
      if (current) current.leave(id)
      else for (let i = queued.length - 1; i >= 0; i--) if (queued[i]!.peer.id === id) queued.splice(i, 1)
    },
    joinFor: (height) => (offer, leave) => {
      current = {
        offer: (a) => {
          if (!ledger.isBanned(a.peer.id) && serves(ledger, a, height)) offer(syncPeer(a))
        },
        leave,
      }
      for (const a of queued.splice(0)) current.offer(a)
      return () => {
        current = null
      }
    },
  }
}

/** The peer as the engine's `SyncPeer`. */
const syncPeer = (a: Answered): SyncPeer => ({
  id: a.peer.id,
  getNodes: (hashes, signal) => a.peer.wire.nodes(hashes, signal),
})

/**
 * Whether a peer may keep the state at `height`; records why not in the ledger. A peer whose head
 * was a little behind at its status answer is still asked (it follows the chain, and the engine's
 * root probe is the real check); one that pruned that state is not.
 */
function serves(ledger: PeerLedger, a: Answered, height: number): boolean {
  const s = a.status
  if (s.oldestStateNumber <= height) return true
  ledger.refuse(
    a.peer.id,
    'pruned',
    `does not serve the state at ${height} (it serves ${s.oldestStateNumber}–${s.headNumber})`,
  )
  return false
}

/** Syncs the state under `head` with the peers that claim to serve it (and late ones). */
export async function syncState(
  d: StateStepDeps,
  head: TrustedHeader,
  answered: Answered[],
  late: LatePeers,
  signal: AbortSignal,
): Promise<SyncResult> {
  const root = head.header.stateRoot
  const height = head.header.number
  const peers = answered
    .filter((a) => !d.ledger.isBanned(a.peer.id) && serves(d.ledger, a, height))
    .map(syncPeer)
  d.emit({ type: 'phase', phase: 'syncing', detail: toHex(root) })
  try {
    const r = await syncToState(root, height, {
      store: d.store,
      peers,
      signal,
      clock: d.clock,
      config: d.sync,
      joinPeers: late.joinFor(height),
      onEvent: d.emit,
    })
    d.ledger.absorb(r.summary)
    return r
  } catch (e) {
    if (e instanceof NoPeersWithTargetState || e instanceof FailedToFetchStateNodes)
      d.ledger.absorb(e.summary)
    throw e
  }
}
