/**
 * The state-root part of a consistency check: every sampled peer is asked for its signed header at
 * the local verified height h (`/rootsync/root/1`) and its answer is classified — the same header
 * (match), no such height (unavailable), a header that does not verify (invalid), another header at h
 * that does verify (equivocation), or no answer (failed).
 *
 * Security considerations (the CometBFT light client's detector):
 * - A peer's header is worth exactly its quorum signatures against the checkpoint's validators. Peers
 *   whose header does not verify are charged as provably bad, however many they are: a majority of
 *   invalid answers changes nothing about the verified header.
 * - A different header at h WITH a valid quorum proves that validators signed two headers at one
 *   height. The peer that showed it told the truth and is not charged; both signed headers become
 *   evidence naming the validators whose valid signatures are on both, and reads halt from h.
 * - Peers that lack the height are not charged; a timeout or a transport error is a failure, not a
 *   proof of lying.
 */
import { compare, concat, equals, toHex } from '../bytes.ts'
import { ChainError } from '../chain/errors.ts'
import {
  encodeSignedHeader,
  headerHash,
  headerSigningHash,
  type SignedHeader,
  type TrustedHeader,
} from '../chain/header.ts'
import { recoverAddress } from '../chain/keys.ts'
import type { Checkpoint } from '../chain/light.ts'
import { verifyHeaderSignatures } from '../chain/validators.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { isProvablyBad, type LightPeer, type PeerLedger, timed } from '../light/peers.ts'
import { isUnavailable } from '../protocol/range.ts'
import type { Discrepancy, EquivocationEvidence, RootOutcome } from './types.ts'

/** Typed failures of the consistency check's own decisions (not a peer's reply decoding). */
export type ConsistencyErrorCode =
  /** A peer answered a root request with a header at another height. */
  | 'ROOT_WRONG_HEIGHT'
  /** No stored evidence has the id given (acknowledge). */
  | 'EVIDENCE_NOT_FOUND'
  /** Stored or presented evidence does not prove an equivocation. */
  | 'EVIDENCE_INVALID'

export class ConsistencyError extends RootsyncError {
  constructor(code: ConsistencyErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
    this.name = 'ConsistencyError'
  }
}

export interface RootCheckDeps {
  /** Chain id and validators: what peers' headers are verified against. */
  checkpoint: Checkpoint
  /** The verified header at height h (`signed` present when it came from a peer). */
  header: TrustedHeader
  /** The peers to ask (already sampled by the caller). */
  peers: LightPeer[]
  ledger: Pick<PeerLedger, 'charge' | 'isBanned' | 'ban'>
  clock: Clock
  requestTimeoutMs: number
  /** Wall-clock ms for `evidence.foundAt`. */
  now: () => number
}

export interface RootCheck {
  /** One per asked peer: its outcome and why it was charged, if it was. */
  peers: { peer: string; root: RootOutcome; charged: string | null }[]
  /** InvalidPeerData (what: 'header', action 'charged') and Equivocation (action 'halted'). */
  discrepancies: Discrepancy[]
  /** One per distinct conflicting header. */
  evidence: EquivocationEvidence[]
}

type PeerAnswer = {
  peer: string
  root: RootOutcome
  charged: string | null
  discrepancy?: Discrepancy
  evidence?: EquivocationEvidence
}

/**
 * Asks every peer in parallel for its header at the local height and classifies each answer. Rejects
 * with the signal's reason when it aborts (nobody is charged for a cancelled request).
 */
export async function checkRoots(d: RootCheckDeps, signal: AbortSignal): Promise<RootCheck> {
  if (signal.aborted) throw signal.reason
  const answers = await Promise.all(d.peers.map((p) => askPeer(d, p, signal)))
  const evidence = new Map<string, EquivocationEvidence>()
  for (const a of answers)
    if (a.evidence && !evidence.has(a.evidence.id)) evidence.set(a.evidence.id, a.evidence)
  return {
    peers: answers.map(({ peer, root, charged }) => ({ peer, root, charged })),
    discrepancies: answers.flatMap((a) => (a.discrepancy ? [a.discrepancy] : [])),
    evidence: [...evidence.values()],
  }
}

async function askPeer(d: RootCheckDeps, p: LightPeer, signal: AbortSignal): Promise<PeerAnswer> {
  const h = d.header.header.number
  const root = p.wire.root?.bind(p.wire)
  if (!root) return { peer: p.id, root: 'unavailable', charged: null }
  let got: SignedHeader
  try {
    got = await timed(d.clock, signal, d.requestTimeoutMs, p.id, 'root', (s) => root(h, s))
  } catch (e) {
    if (signal.aborted) throw signal.reason
    if (isUnavailable(e)) return { peer: p.id, root: 'unavailable', charged: null }
    d.ledger.charge(p.id, e, 'root')
    const charged = `root: ${(e as Error)?.message ?? String(e)}`
    // Bytes that do not decode prove the peer wrong (the ledger bans it); anything else is a failure.
    if (isProvablyBad(e)) return invalid(p.id, (e as RootsyncError).code, charged)
    return { peer: p.id, root: 'failed', charged }
  }
  if (signal.aborted) throw signal.reason
  if (got.header.number !== h) {
    const reason = `root: asked for the header at ${h}, answered the header at ${got.header.number}`
    d.ledger.ban(p.id, reason)
    return invalid(p.id, 'ROOT_WRONG_HEIGHT', reason)
  }
  const hash = headerHash(got.header)
  if (equals(hash, d.header.hash)) return { peer: p.id, root: 'match', charged: null }
  try {
    verifyHeaderSignatures(d.checkpoint.chainId, got, d.checkpoint.validators)
  } catch (e) {
    if (!(e instanceof ChainError)) throw e
    d.ledger.charge(p.id, e, 'root')
    return invalid(p.id, e.code, `root: ${e.message}`)
  }
  const evidence = evidenceOf(d.checkpoint, d.header, got, p.id, d.now())
  const signers = evidence.doubleSigners.map((s) => `#${s.index} ${s.address}`).join(', ')
  return {
    peer: p.id,
    root: 'equivocation',
    charged: null,
    evidence,
    discrepancy: {
      kind: 'Equivocation',
      height: h,
      peer: p.id,
      evidence: evidence.id,
      action: 'halted',
      detail:
        `${p.id} served header ${toHex(hash)} at ${h}, not the verified ${toHex(d.header.hash)}, ` +
        `with a valid quorum; ${evidence.doubleSigners.length} validator(s) signed both` +
        (signers ? `: ${signers}` : ''),
    },
  }
}

function invalid(peer: string, code: string, reason: string): PeerAnswer {
  return {
    peer,
    root: 'invalid',
    charged: reason,
    discrepancy: { kind: 'InvalidPeerData', peer, what: 'header', code, action: 'charged', detail: reason },
  }
}

/** Indexes of validators whose signature on `s` is valid (each counted once). */
function validSigners(chainId: number, validators: Uint8Array[], s: SignedHeader): Set<number> {
  const digest = headerSigningHash(chainId, headerHash(s.header))
  const out = new Set<number>()
  for (const { validator, signature } of s.signatures) {
    const expected = validators[validator]
    if (!expected || out.has(validator)) continue
    const got = recoverAddress(digest, signature)
    if (got && equals(got, expected)) out.add(validator)
  }
  return out
}

/** Validators (index + address) whose signatures on BOTH signed headers verify, by index. */
export function doubleSigners(
  chainId: number,
  validators: Uint8Array[],
  a: SignedHeader,
  b: SignedHeader,
): { index: number; address: string }[] {
  const onA = validSigners(chainId, validators, a)
  const onB = validSigners(chainId, validators, b)
  return [...onA]
    .filter((i) => onB.has(i))
    .sort((x, y) => x - y)
    .map((index) => ({ index, address: toHex(validators[index]!) }))
}

/** The evidence id: 0x keccak of the two header hashes, sorted (the same pair always has one id). */
export function evidenceId(a: Uint8Array, b: Uint8Array): string {
  return toHex(keccak256(compare(a, b) <= 0 ? concat(a, b) : concat(b, a)))
}

/**
 * The evidence of an equivocation: the locally verified header (with its signatures; none for the
 * checkpoint itself, which is trusted by configuration) and the conflicting one, whose quorum the
 * caller has verified.
 */
export function evidenceOf(
  cp: Checkpoint,
  local: TrustedHeader,
  conflicting: SignedHeader,
  peer: string,
  foundAt: number,
): EquivocationEvidence {
  const localSigned = local.signed ?? { header: local.header, signatures: [] }
  const conflictingHash = headerHash(conflicting.header)
  return {
    id: evidenceId(local.hash, conflictingHash),
    height: local.header.number,
    chainId: cp.chainId,
    local: { hash: toHex(local.hash), signed: toHex(encodeSignedHeader(localSigned)) },
    conflicting: { hash: toHex(conflictingHash), signed: toHex(encodeSignedHeader(conflicting)) },
    doubleSigners: doubleSigners(cp.chainId, cp.validators, localSigned, conflicting),
    peer,
    foundAt,
    acknowledgedAt: null,
  }
}
