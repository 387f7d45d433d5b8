/**
 * The driver's state step: sync the state a verified header commits to, through the sync engine,
 * with the peers that claim to serve that height, plus any that answer later; and keep the ledger
 * true to what each peer did (a peer refused at the engine's root probe is recorded with why, so a
 * summary can name every peer the run saw).
 *
 * Security considerations: the root comes only from a verified header; the engine hashes every node
 * against it. A peer whose answer to the root probe hashes to something else is provably lying and
 * is banned for the session.
 */
import { equals, toHex } from '../bytes.ts'
import type { TrustedHeader } from '../chain/header.ts'
import type { Clock } from '../clock.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { type SyncResult, syncToState } from '../sync/state-sync.ts'
import type { SyncConfig, SyncEvent, SyncPeer } from '../sync/types.ts'
import type { LightEvent } from './events.ts'
import { type Answered, isTimeout, type PeerLedger } from './peers.ts'

export interface StateStepDeps {
  store: NodeStore
  clock: Clock
  ledger: PeerLedger
  emit: (e: LightEvent) => void
  sync?: Partial<SyncConfig>
}

/**
 * Peers that answer the status round after it was decided: queued until a sync runs, then offered
 * to it (the engine probes them for the root like the first ones).
 */
export interface LatePeers {
  add(a: Answered): void
  /** The engine's `joinPeers` for a sync at `height`. */
  joinFor(height: number, wrap: (a: Answered) => SyncPeer): (offer: (p: SyncPeer) => void) => () => void
}

export function latePeers(ledger: PeerLedger): LatePeers {
  const queued: Answered[] = []
  let current: ((a: Answered) => void) | null = null
  return {
    add(a) {
      if (current) current(a)
      else queued.push(a)
    },
    joinFor: (height, wrap) => (offer) => {
      current = (a) => {
        if (!ledger.isBanned(a.peer.id) && serves(ledger, a, height)) offer(wrap(a))
      }
      for (const a of queued.splice(0)) current(a)
      return () => {
        current = null
      }
    },
  }
}

/**
 * Whether a peer may keep the state at `height`; records why not in the ledger. A peer whose head
 * was a little behind at its status answer is still asked (it follows the chain, and the engine's
 * root probe is the real check); one that pruned that state is not.
 */
function serves(ledger: PeerLedger, a: Answered, height: number): boolean {
  const s = a.status
  if (s.oldestStateNumber <= height) return true
  ledger.record(a.peer.id).refused =
    `does not serve the state at ${height} (it serves ${s.oldestStateNumber}–${s.headNumber})`
  return false
}

/**
 * The peer as the engine's `SyncPeer`, watching its answer to the engine's first request (the root
 * probe): a refusal there is recorded in the ledger (the engine keeps no stats for such a peer).
 */
function observed(d: StateStepDeps, a: Answered, root: Uint8Array): SyncPeer {
  let probing = true
  const r = d.ledger.record(a.peer.id)
  return {
    id: a.peer.id,
    async getNodes(hashes, signal) {
      const probe = probing && hashes.length === 1 && equals(hashes[0]!, root)
      probing = false
      if (!probe) return a.peer.wire.nodes(hashes, signal)
      try {
        const out = await a.peer.wire.nodes(hashes, signal)
        const b = out[0]
        if (!b?.length) r.refused = 'does not have the target root'
        else if (!equals(keccak256(b), root)) {
          r.bad++
          r.refused = 'answered the root probe with a node that is not the target root'
          d.ledger.ban(a.peer.id, r.refused)
        } else r.refused = null
        return out
      } catch (e) {
        if (!signal.aborted || isTimeout(signal.reason)) d.ledger.charge(a.peer.id, e, 'root probe')
        r.refused = r.reason
        throw e
      }
    },
  }
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
  const wrap = (a: Answered) => observed(d, a, root)
  const peers = answered.filter((a) => !d.ledger.isBanned(a.peer.id) && serves(d.ledger, a, height)).map(wrap)
  d.emit({ type: 'phase', phase: 'syncing', detail: toHex(root) })
  // Built as a variable, not a literal: the engine's options are gaining a `clock` (and may drop
  // `now`), and both forms must type-check across that change.
  const opts = {
    store: d.store,
    peers,
    signal,
    clock: d.clock,
    now: () => d.clock.now(),
    ...(d.sync ? { config: d.sync } : {}),
    joinPeers: late.joinFor(height, wrap),
    onEvent: (e: SyncEvent) => {
      if (e.type === 'peer-banned') d.ledger.record(e.peer).banned ??= e.reason
      if (e.type === 'peer-refused') d.ledger.record(e.peer).refused ??= e.reason
      d.emit(e)
    },
  }
  return syncToState(root, height, opts)
}
