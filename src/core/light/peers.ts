/**
 * The light client's peers as the driver sees them: a port (`LightPeer`, the shape of the wire
 * client's methods), a ledger of what each peer did this session (status, charges, bans, why), and
 * the status round that finds who is on our chain without waiting for a silent peer.
 *
 * Security considerations: a peer's status is a claim, never trusted: its head number only decides
 * whom to ask first, and a head it cannot back with verifying headers gets it banned (headers.ts).
 * Every request is bounded by a timeout through the clock, so a peer that never answers costs a
 * timeout, not the session.
 */
import type { AccountProof } from '../account-proof.ts'
import type { Block } from '../chain/block.ts'
import { ChainError } from '../chain/errors.ts'
import type { SignedHeader } from '../chain/header.ts'
import type { LightBlockReply } from '../chain/validators.ts'
import { type Clock, timeoutSignal } from '../clock.ts'
import { ProofError, RlpError } from '../errors.ts'
import { failureKind, PeerFailure } from '../peers/failure.ts'
import type { PeerSummary, RefusalKind } from '../peers/scheduler.ts'
import type { ProofRequest, StatusResponse } from '../protocol/messages.ts'
import type { RangeReply, RangeRequest } from '../protocol/range.ts'
import type { LightEvent } from './events.ts'

/** What the driver asks of a peer: `WireClient` (src/net) has exactly these methods. */
export interface PeerWire {
  status(signal?: AbortSignal): Promise<StatusResponse>
  headers(start: number, count: number, signal?: AbortSignal): Promise<SignedHeader[]>
  nodes(hashes: Uint8Array[], signal?: AbortSignal): Promise<Uint8Array[]>
  proof(req: ProofRequest, signal?: AbortSignal): Promise<AccountProof>
  blocks(start: number, count: number, signal?: AbortSignal): Promise<Block[]>
  /**
   * The peer's signed header at `height` (`/rootsync/root/1`), unverified: the consistency check
   * compares it with the verified one. A peer that lacks the height throws `ProtocolError`
   * UNAVAILABLE. Absent on a transport that does not carry it: such a peer is not asked.
   */
  root?(height: number, signal?: AbortSignal): Promise<SignedHeader>
  /**
   * The signed header at `height` with the validator set that signs it and the next one
   * (`/rootsync/validators/1`), unverified: `lightBlockOf` checks the sets against the header's
   * hashes. What skipping verification asks for. Absent on a transport that does not carry it.
   */
  validators?(height: number, signal?: AbortSignal): Promise<LightBlockReply>
  /**
   * A run of leaves with its edge proof (`/rootsync/range/1`, core/protocol/range.ts). Absent on a
   * transport that does not carry the range protocol: such a peer is simply not asked for ranges.
   */
  range?(req: RangeRequest, signal?: AbortSignal): Promise<RangeReply>
  /** Contract code by hash over the range protocol, in order; empty bytes where the peer lacks one. */
  code?(hashes: Uint8Array[], signal?: AbortSignal): Promise<Uint8Array[]>
}

/** A peer: its id (as shown in events and summaries) and how to reach it. */
export interface LightPeer {
  readonly id: string
  readonly wire: PeerWire
}

/**
 * Replies that prove the peer wrong: headers that do not verify, proofs that do not verify against
 * the root they were asked for, bytes that do not decode.
 */
export const isProvablyBad = (e: unknown): boolean =>
  e instanceof ChainError || e instanceof ProofError || e instanceof RlpError

/**
 * Runs `work` with a deadline from the clock; rejects with a `PeerFailure` of kind 'timeout' at the
 * deadline even if the transport ignores the signal, so the driver never waits on a peer longer than
 * `ms`.
 */
export function timed<T>(
  clock: Clock,
  parent: AbortSignal,
  ms: number,
  peer: string,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { signal, clear } = timeoutSignal(clock, parent, ms)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () =>
      reject(
        parent.aborted
          ? parent.reason
          : new PeerFailure('timeout', 'PEER_TIMEOUT', `${what} from ${peer}: no answer in ${ms} ms`, {
              peer,
            }),
      )
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    work(signal).then(resolve, reject)
  }).finally(clear)
}

/**
 * Why the driver did not use a peer: the engine's refusals at its root probe, plus the driver's own
 * at the status round (another chain) and before the state phase (the peer pruned that state).
 */
export type LightRefusal = RefusalKind | 'other-chain' | 'pruned'

/** What the driver itself saw of one peer this session (status and header requests, bans). */
export interface PeerRecord {
  id: string
  status: StatusResponse | null
  /** Why it is not used (answered another chain, status failed or timed out), if it is not. */
  refused: string | null
  refusal: LightRefusal | null
  /** Banned for the session, and why (provably wrong). */
  banned: string | null
  /** Provably bad replies seen by the driver (headers; the state engine counts its own). */
  bad: number
  timeouts: number
  errors: number
  /** The newest charge's reason. */
  reason: string | null
}

export interface PeerLedger {
  record(id: string): PeerRecord
  all(): PeerRecord[]
  isBanned(id: string): boolean
  /** A failed or wrong request: counted, banned if provably wrong; emits `peer-charged`. */
  charge(id: string, e: unknown, what: string): void
  ban(id: string, reason: string): void
  /** Not used, and why (null: used again). */
  refuse(id: string, kind: LightRefusal | null, reason: string | null): void
  /**
   * The state engine's summary of its last run: kept for the session's summary, and acted on —
   * a peer the engine banned, or that answered its root probe with another node (provably lying),
   * is banned for the session.
   */
  absorb(summary: PeerSummary[]): void
  /** The engine's summary of the last state sync (empty before one). */
  stateSummary(): PeerSummary[]
}

export function createLedger(emit: (e: LightEvent) => void): PeerLedger {
  const records = new Map<string, PeerRecord>()
  let state: PeerSummary[] = []
  const record = (id: string): PeerRecord => {
    let r = records.get(id)
    if (!r) {
      r = {
        id,
        status: null,
        refused: null,
        refusal: null,
        banned: null,
        bad: 0,
        timeouts: 0,
        errors: 0,
        reason: null,
      }
      records.set(id, r)
    }
    return r
  }
  const ledger: PeerLedger = {
    record,
    all: () => [...records.values()],
    isBanned: (id) => records.get(id)?.banned != null,
    ban(id, reason) {
      const r = record(id)
      if (r.banned) return
      r.banned = reason
      r.reason = reason
      emit({ type: 'peer-charged', peer: id, kind: 'banned', reason })
    },
    charge(id, e, what) {
      const r = record(id)
      const reason = `${what}: ${(e as Error)?.message ?? String(e)}`
      if (isProvablyBad(e)) {
        r.bad++
        ledger.ban(id, reason)
        return
      }
      if (failureKind(e) === 'timeout') r.timeouts++
      else r.errors++
      r.reason = reason
      emit({ type: 'peer-charged', peer: id, kind: 'failure', reason })
    },
    refuse(id, kind, reason) {
      const r = record(id)
      r.refusal = kind
      r.refused = reason
    },
    absorb(summary) {
      state = summary
      for (const p of summary) {
        // The engine announced its own bans (`peer-banned`): recorded without a second event.
        if (p.outcome === 'banned') record(p.id).banned ??= p.reason
        else if (p.refusal === 'wrong-root') ledger.ban(p.id, `root probe: ${p.reason}`)
      }
    },
    stateSummary: () => state,
  }
  return ledger
}

export interface Answered {
  peer: LightPeer
  status: StatusResponse
  /** How long its status answer took (by the clock): what its later deadlines are sized from. */
  rttMs: number
}

export interface StatusRoundOptions {
  chainId: number
  timeoutMs: number
  /**
   * After the first answer on our chain, how long the others get to answer too (at least as long
   * as the first took). 0: the round is decided by the first answer.
   */
  graceMs: number
  /** A peer that answers after the round was decided (offer it to a running sync). */
  onLate?: (a: Answered) => void
}

/**
 * Asks every peer not banned for its status. Resolves with the peers on our chain that answered by
 * the first answer + grace (or once every peer has answered or failed): a stalled peer never holds
 * the round. Peers that answer later go to `onLate`; failures are charged in the ledger.
 */
export function statusRound(
  peers: LightPeer[],
  ledger: PeerLedger,
  clock: Clock,
  signal: AbortSignal,
  o: StatusRoundOptions,
): Promise<Answered[]> {
  const asked = peers.filter((p) => !ledger.isBanned(p.id))
  return new Promise((resolve) => {
    const got: Answered[] = []
    let pending = asked.length
    let decided = false
    let cancelGrace: (() => void) | null = null
    const answeredIds = new Set<string>()
    const decide = () => {
      if (decided) return
      decided = true
      cancelGrace?.()
      for (const p of asked)
        if (!answeredIds.has(p.id) && !ledger.record(p.id).refused)
          ledger.refuse(p.id, 'timeout', 'no answer to status within the round')
      resolve(got.slice())
    }
    if (!pending) return decide()
    const started = clock.now()
    for (const peer of asked) {
      const r = ledger.record(peer.id)
      const askedAt = clock.now()
      timed(clock, signal, o.timeoutMs, peer.id, 'status', (s) => peer.wire.status(s))
        .then(
          (status) => {
            answeredIds.add(peer.id)
            r.status = status
            if (status.chainId !== o.chainId)
              ledger.refuse(peer.id, 'other-chain', `on chain ${status.chainId}, not ${o.chainId}`)
            else {
              ledger.refuse(peer.id, null, null)
              const a = { peer, status, rttMs: clock.now() - askedAt }
              if (decided) o.onLate?.(a)
              else {
                got.push(a)
                if (o.graceMs === 0) decide()
                else cancelGrace ??= clock.setTimer(Math.max(o.graceMs, clock.now() - started), decide)
              }
            }
          },
          (e) => {
            answeredIds.add(peer.id)
            if (signal.aborted) return
            ledger.charge(peer.id, e, 'status')
            ledger.refuse(peer.id, failureKind(e) === 'timeout' ? 'timeout' : 'error', r.reason)
          },
        )
        .finally(() => {
          if (--pending === 0) decide()
        })
    }
  })
}
