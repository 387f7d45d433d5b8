/**
 * Where a network-snapshot recovery gets its data: the peers that speak the range protocol, asked in
 * turn (the least busy first, ties by rotation), every reply verified here before it is handed on —
 * a range against the trie root it must rebuild (`verifyRangeProof`), a code blob against its hash.
 *
 * What each peer did decides whether it is asked again during this recovery:
 * - a reply that does not verify (a gap, an extra or altered leaf, a forged proof node, code not
 *   hashing to what was asked, bytes that do not decode) is provably wrong: the peer is charged
 *   (once) and never asked again; the request goes to another peer;
 * - "unavailable" (the peer does not keep that state) is honest: not charged, not asked again;
 * - a timeout or transport error: the request goes to another peer; after `maxFailures` in a row the
 *   peer is not asked again (a staller costs at most that many deadlines).
 * When no peer is left for a request the recovery fails with `SNAPSHOT_NO_PEERS`, naming what each
 * peer did.
 *
 * This is a small rotation rather than the sync's scheduler: requests here are few and large (a
 * range per trie chunk), so per-peer rate estimation and request sizing buy nothing; the peer
 * accounting the scheduler does for liars and stallers is kept.
 *
 * A range asked with `chain` (the builder of the ranges before it) is proven chained onto that
 * builder (range-proof.ts `proveChained`): each interior node hashed once, by the builder whose nodes
 * are stored. When the chained root does not come out, the range is checked alone: if it does not
 * prove, the peer is charged as above; if it does, the builder's state is wrong (resumed progress),
 * and `SnapshotStateMismatch` ends the request without blaming anyone.
 *
 * Security considerations: nothing a peer sends leaves this module unverified; every request is
 * bounded by the clock (`timed`), so a silent peer never holds the recovery.
 */
import { equals, toHex } from '../bytes.ts'
import type { Clock } from '../clock.ts'
import { MissingNodeError, ProofError, RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { isProvablyBad, type LightPeer, timed } from '../light/peers.ts'
import { ProtocolError, Status } from '../protocol/messages.ts'
import { proveChained, verifyRangeProof } from '../trie/range-proof.ts'
import type { RootBuilder } from '../trie/root-builder.ts'

/** Why a peer is no longer asked: provably wrong, lacks the state, or stopped answering. */
export type PeerVerdict = 'bad' | 'unavailable' | 'unresponsive'

export interface SnapshotPeerReport {
  id: string
  /** Null while it is still asked. */
  verdict: PeerVerdict | null
  reason: string | null
  /** Verified replies it gave. */
  served: number
  timeouts: number
  errors: number
}

export interface RangeAsk {
  /** The state root the range is read at. */
  stateRoot: Uint8Array
  /** Hashed account key, for a storage range. */
  account?: Uint8Array
  /** The root the leaves must rebuild: the state root, or the account's storage root. */
  trieRoot: Uint8Array
  origin: Uint8Array
  maxBytes: number
  /**
   * A stack builder holding every leaf of the trie before `origin` (proven): the range is then proven
   * chained onto a fork of it (`proveChained`), which comes back as `VerifiedRange.built`.
   */
  chain?: RootBuilder
}

export interface VerifiedRange {
  keys: Uint8Array[]
  values: Uint8Array[]
  /** The trie has leaves after the last one. */
  hasMore: boolean
  /** With `RangeAsk.chain`: its fork holding this range's leaves too, and the nodes it emitted (complete subtrees). */
  built?: { builder: RootBuilder; nodes: [Uint8Array, Uint8Array][] }
}

/**
 * A chained range did not rebuild the root although the range alone proves: the builder's state
 * (resumed progress) is not what it claimed. No peer is to blame; the caller starts over.
 */
export class SnapshotStateMismatch extends RootsyncError {
  constructor(what: string) {
    super(
      'SNAPSHOT_ROOT_MISMATCH',
      `the saved build state does not lead to the root (${what}): starting over`,
    )
    this.name = 'SnapshotStateMismatch'
  }
}

export interface SnapshotSourceConfig {
  clock: Clock
  peers: LightPeer[]
  timeoutMs: number
  maxFailures: number
  /** A peer proved wrong (called once per peer). */
  charge(peer: string, reason: string): void
  /** Bytes received (keys, values and proof of a range; code). */
  onBytes(n: number): void
}

export interface SnapshotSource {
  /** A run of leaves from `ask.origin`, proven against `ask.trieRoot`. */
  range(ask: RangeAsk, signal: AbortSignal): Promise<VerifiedRange>
  /** Code blobs for `hashes`, in order, each hashing to its hash. */
  code(hashes: Uint8Array[], signal: AbortSignal): Promise<Uint8Array[]>
  report(): SnapshotPeerReport[]
}

const FULL_LIMIT = new Uint8Array(32).fill(0xff)

interface Slot extends SnapshotPeerReport {
  peer: LightPeer
  inFlight: number
  failuresInRow: number
}

/** The peer answered "I do not have that state": honest, not charged. */
function isUnavailable(e: unknown): boolean {
  return (e instanceof ProtocolError && e.status === Status.UNAVAILABLE) || e instanceof MissingNodeError
}

export function createSnapshotSource(cfg: SnapshotSourceConfig): SnapshotSource {
  const slots: Slot[] = cfg.peers.map((peer) => ({
    id: peer.id,
    peer,
    verdict: null,
    reason: null,
    served: 0,
    timeouts: 0,
    errors: 0,
    inFlight: 0,
    failuresInRow: 0,
  }))
  let turn = 0

  const report = (): SnapshotPeerReport[] =>
    slots.map(({ id, verdict, reason, served, timeouts, errors }) => ({
      id,
      verdict,
      reason,
      served,
      timeouts,
      errors,
    }))

  /** The next peer to ask: usable, able to, not yet tried for this request; least busy, then in turn. */
  const pick = (tried: Set<string>, able: (p: LightPeer) => boolean): Slot | null => {
    const n = slots.length
    let best: Slot | null = null
    for (let i = 0; i < n; i++) {
      const s = slots[(turn + i) % n]!
      if (s.verdict || tried.has(s.id) || !able(s.peer)) continue
      if (!best || s.inFlight < best.inFlight) best = s
    }
    if (best) turn = (slots.indexOf(best) + 1) % n
    return best
  }

  const noPeers = (what: string): RootsyncError => {
    const r = report()
    const told = r
      .map(
        (p) =>
          `${p.id}: ${p.verdict ?? 'tried'}${p.reason ? ` (${p.reason})` : ''}` +
          (p.timeouts ? `, ${p.timeouts} timeout(s)` : ''),
      )
      .join('; ')
    return new RootsyncError(
      'SNAPSHOT_NO_PEERS',
      `no peer left to serve ${what}: ${told || 'no peer offers the range protocol'}`,
      { peers: r },
    )
  }

  /** Records what a failed request says about the peer. */
  const failed = (s: Slot, e: unknown, what: string): void => {
    const reason = `${what}: ${(e as Error)?.message ?? String(e)}`
    if (isProvablyBad(e)) {
      if (s.verdict === 'bad') return
      s.verdict = 'bad'
      s.reason = reason
      cfg.charge(s.id, reason)
    } else if (isUnavailable(e)) {
      s.verdict ??= 'unavailable'
      s.reason ??= reason
    } else {
      if ((e as { kind?: string })?.kind === 'timeout') s.timeouts++
      else s.errors++
      s.reason = reason
      if (++s.failuresInRow >= cfg.maxFailures) s.verdict ??= 'unresponsive'
    }
  }

  /** Asks peers in turn until `attempt` returns a verified result. */
  async function ask<T>(
    what: string,
    signal: AbortSignal,
    able: (p: LightPeer) => boolean,
    attempt: (s: Slot, signal: AbortSignal) => Promise<T | null>,
  ): Promise<T> {
    const tried = new Set<string>()
    for (;;) {
      if (signal.aborted) throw signal.reason
      const s = pick(tried, able)
      if (!s) throw noPeers(what)
      tried.add(s.id)
      s.inFlight++
      try {
        const out = await timed(cfg.clock, signal, cfg.timeoutMs, s.id, what, (sig) => attempt(s, sig))
        s.failuresInRow = 0
        if (out !== null) {
          s.served++
          return out
        }
      } catch (e) {
        if (signal.aborted) throw signal.reason
        if (e instanceof SnapshotStateMismatch) throw e
        failed(s, e, what)
      } finally {
        s.inFlight--
      }
    }
  }

  return {
    report,
    range(a, signal) {
      const what = a.account ? `storage range of ${toHex(a.account)}` : 'account range'
      return ask(
        what,
        signal,
        (p) => !!p.wire.range,
        async (s, sig) => {
          const reply = await s.peer.wire.range!(
            {
              root: a.stateRoot,
              account: a.account,
              origin: a.origin,
              limit: FULL_LIMIT,
              maxBytes: a.maxBytes,
            },
            sig,
          )
          let bytes = 0
          for (const k of reply.keys) bytes += k.length
          for (const v of reply.values) bytes += v.length
          for (const p of reply.proof) bytes += p.length
          cfg.onBytes(bytes)
          const { keys, values, proof } = reply
          if (!a.chain)
            return { keys, values, ...verifyRangeProof(a.trieRoot, a.origin, keys, values, proof) }
          const nodes: [Uint8Array, Uint8Array][] = []
          const builder = a.chain.fork((h, enc) => void nodes.push([h, enc]))
          const chained = proveChained(a.trieRoot, a.origin, keys, values, proof, builder)
          if (chained) return { keys, values, hasMore: chained.hasMore, built: { builder, nodes } }
          // The reply or our state is wrong: the range alone tells which (a ProofError charges the peer).
          verifyRangeProof(a.trieRoot, a.origin, keys, values, proof)
          throw new SnapshotStateMismatch(what)
        },
      )
    },
    async code(hashes, signal) {
      const got: (Uint8Array | null)[] = hashes.map(() => null)
      let missing = hashes.map((_, i) => i)
      // A peer lacking some blobs is not wrong: the rest is asked of the next peer.
      await ask(
        `${hashes.length} code blob(s)`,
        signal,
        (p) => !!p.wire.code,
        async (s, sig) => {
          for (;;) {
            // (A late reply of a peer that timed out may land meanwhile: indexes are this request's.)
            const asked = missing
            const reply = await s.peer.wire.code!(
              asked.map((i) => hashes[i]!),
              sig,
            )
            if (reply.length > asked.length)
              throw new ProofError('CODE', `${reply.length} code blobs for ${asked.length} hashes`)
            let wrong = 0
            let fresh = 0
            reply.forEach((c, j) => {
              cfg.onBytes(c.length)
              const i = asked[j]!
              if (c.length === 0) return
              if (equals(keccak256(c), hashes[i]!)) {
                got[i] = c
                fresh++
              } else wrong++
            })
            missing = hashes.map((_, i) => i).filter((i) => !got[i])
            // Verified blobs are kept even from a peer that also sent a wrong one; it is charged.
            if (wrong) throw new ProofError('CODE', `${wrong} code blob(s) do not hash to what was asked`)
            if (!missing.length) return true
            // A reply cut short at the server's size limit is not a lie: the rest is asked of the same
            // peer while it makes progress; blobs it answered empty are asked of the next peer.
            if (reply.length === asked.length || fresh === 0) return null
          }
        },
      )
      return got as Uint8Array[]
    },
  }
}

/**
 * Runs fetch jobs (a storage trie, a code batch), at most `limit` at once, so they spread over the
 * peers; on the first failure the others are stopped (their signal aborts) and awaited before it is
 * thrown, so nothing of the chunk runs on after it.
 */
export async function runAll(
  jobs: ((signal: AbortSignal) => Promise<void>)[],
  limit: number,
  parent: AbortSignal,
): Promise<void> {
  const ac = new AbortController()
  const onParent = () => ac.abort(parent.reason)
  if (parent.aborted) onParent()
  else parent.addEventListener('abort', onParent, { once: true })
  let next = 0
  let first: { e: unknown } | null = null
  const worker = async () => {
    while (next < jobs.length && !first) {
      const job = jobs[next++]!
      try {
        await job(ac.signal)
      } catch (e) {
        first ??= { e: parent.aborted ? parent.reason : e }
        ac.abort(first.e)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker))
  } finally {
    parent.removeEventListener('abort', onParent)
  }
  if (first) throw (first as { e: unknown }).e
}
