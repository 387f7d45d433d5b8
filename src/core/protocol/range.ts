/**
 * The range protocol (`/rootsync/range/1`, docs/protocol.md): a run of leaves of one trie at a given
 * state root — the account trie, or one account's storage trie — by hashed key, with the proof of the
 * run's two edges, so the receiver can check with `verifyRangeProof` that the run is exactly all the
 * leaves between its origin and its last key. Code is asked by hash on the same protocol.
 *
 * One protocol, three request kinds, told apart by a leading integer:
 *   account range  `[0, root, origin, limit, maxBytes]`
 *   storage range  `[1, root, account, origin, limit, maxBytes]`
 *   code           `[2, [hash…]]`
 * Replies follow messages.ts' convention `[status, payload]`: a range is `[[key…], [value…], [node…]]`,
 * code is `[bytes…]` (one per hash in order, empty where unknown, possibly cut short at the soft cap).
 *
 * Security considerations: both sides decode untrusted bytes. The codec checks shapes, lengths and
 * counts (32-byte keys and hashes, keys and values paired, leaf, proof-node and hash counts within
 * `LIMITS`) before anything is built, and throws `RlpError`/`ProtocolError` only. It proves nothing:
 * order, gaps, extra or altered leaves and forged proofs are `verifyRangeProof`'s to find, and code
 * must be hashed against what was asked.
 */
import { compare } from '../bytes.ts'
import { RlpError } from '../errors.ts'
import { asBytes, asList, asSafeInt, type RlpItem, rlpEncode } from '../rlp.ts'
import { decodeTop, hash32, LIMITS, ok, ProtocolError, payloadOf, Status } from './messages.ts'

export interface RangeRequest {
  /** The state root the range is read at (a root the client verified through a header). */
  root: Uint8Array
  /** Hashed account key (32 bytes) for a storage range of that account; absent for the account trie. */
  account?: Uint8Array
  /** First key wanted (32 bytes); the reply starts at the first leaf ≥ origin. */
  origin: Uint8Array
  /** The server may stop after the first leaf ≥ limit (32 bytes; all 0xff for "to the end"). */
  limit: Uint8Array
  /** Soft cap on the reply's leaf bytes (the server stops adding leaves past it). */
  maxBytes: number
}

export interface RangeReply {
  /** Leaf keys (32 bytes each), strictly increasing, the first ≥ origin. */
  keys: Uint8Array[]
  /** Leaf values, one per key (account RLP, or RLP of a storage value). */
  values: Uint8Array[]
  /** Proof nodes of the origin's path and the last key's path (none: the whole trie is in the reply). */
  proof: Uint8Array[]
}

/** The leading integer of a range-protocol request. */
export enum RangeKind {
  ACCOUNTS = 0,
  STORAGE = 1,
  CODE = 2,
}

/** A decoded range-protocol request, as the server sees it. */
export type RangeProtocolRequest =
  | { kind: 'range'; req: RangeRequest }
  | { kind: 'code'; hashes: Uint8Array[] }

// ---- requests ---------------------------------------------------------------------------------------

export function encodeRangeRequest(r: RangeRequest): Uint8Array {
  const tail = [r.origin, r.limit, r.maxBytes]
  return rlpEncode(
    r.account ? [RangeKind.STORAGE, r.root, r.account, ...tail] : [RangeKind.ACCOUNTS, r.root, ...tail],
  )
}

export const encodeCodeRequest = (hashes: Uint8Array[]): Uint8Array => rlpEncode([RangeKind.CODE, hashes])

/**
 * Decodes any request of the range protocol. Shape errors are `RlpError` (answered `BAD_REQUEST`);
 * an origin past the limit or an empty code request is `BAD_REQUEST`; too many hashes `TOO_MANY_ITEMS`.
 */
export function decodeRangeProtocolRequest(
  bytes: Uint8Array,
  maxCodeHashes: number = LIMITS.maxCodeHashes,
): RangeProtocolRequest {
  const l = asList(decodeTop(bytes, LIMITS.maxRequestBytes), 'range request')
  const kind = asSafeInt(l[0], 'range request kind')
  switch (kind) {
    case RangeKind.ACCOUNTS:
      asList(l, 'account range request', 5)
      return { kind: 'range', req: rangeOf(l[1], undefined, l.slice(2)) }
    case RangeKind.STORAGE:
      asList(l, 'storage range request', 6)
      return { kind: 'range', req: rangeOf(l[1], l[2], l.slice(3)) }
    case RangeKind.CODE: {
      asList(l, 'code request', 2)
      const hashes = asList(l[1], 'code hashes')
      if (hashes.length === 0) throw new ProtocolError(Status.BAD_REQUEST, 'code request for 0 hashes')
      if (hashes.length > maxCodeHashes)
        throw new ProtocolError(
          Status.TOO_MANY_ITEMS,
          `code request for ${hashes.length} hashes; at most ${maxCodeHashes}`,
        )
      return { kind: 'code', hashes: hashes.map((h, i) => hash32(h, `code hash ${i}`)) }
    }
    default:
      throw new RlpError(`unknown range request kind ${kind}`)
  }
}

function rangeOf(root: RlpItem | undefined, account: RlpItem | undefined, rest: RlpItem[]): RangeRequest {
  const req: RangeRequest = {
    root: hash32(root, 'range root'),
    origin: hash32(rest[0], 'range origin'),
    limit: hash32(rest[1], 'range limit'),
    maxBytes: asSafeInt(rest[2], 'range max bytes'),
  }
  if (account !== undefined) req.account = hash32(account, 'range account')
  if (compare(req.origin, req.limit) > 0)
    throw new ProtocolError(Status.BAD_REQUEST, 'range origin is past its limit')
  return req
}

// ---- replies ----------------------------------------------------------------------------------------

export const encodeRangeResponse = (r: RangeReply): Uint8Array => ok([r.keys, r.values, r.proof])

/** A range reply's parts, copied out of the reply buffer; throws the server's `ProtocolError` if any. */
export function decodeRangeResponse(bytes: Uint8Array): RangeReply {
  const l = asList(payloadOf(bytes), 'range reply', 3)
  const keys = asList(l[0], 'range keys')
  const values = asList(l[1], 'range values')
  const proof = asList(l[2], 'range proof')
  if (keys.length > LIMITS.maxRangeLeaves)
    throw new RlpError(`${keys.length} leaves in a range reply; at most ${LIMITS.maxRangeLeaves}`)
  if (values.length !== keys.length)
    throw new RlpError(`range reply has ${keys.length} keys but ${values.length} values`)
  if (proof.length > LIMITS.maxRangeProofNodes)
    throw new RlpError(`${proof.length} proof nodes in a range reply; at most ${LIMITS.maxRangeProofNodes}`)
  // Copied: keys, values and nodes outlive the reply buffer they were decoded from. `new Uint8Array`,
  // not `.slice()`: the buffer may be a Node Buffer, whose slice() is a view.
  return {
    keys: keys.map((k, i) => new Uint8Array(hash32(k, `range key ${i}`))),
    values: values.map((v, i) => new Uint8Array(asBytes(v, `range value ${i}`))),
    proof: proof.map((p, i) => new Uint8Array(asBytes(p, `range proof node ${i}`))),
  }
}

export const encodeCodeResponse = (codes: Uint8Array[]): Uint8Array => ok(codes)

/** Code blobs in request order (empty: the server lacks it); may be shorter than `requested`. */
export function decodeCodeResponse(bytes: Uint8Array, requested: number): Uint8Array[] {
  const l = asList(payloadOf(bytes), 'code reply')
  if (l.length > requested) throw new RlpError(`${l.length} codes in reply to ${requested} hashes`)
  return l.map((c, i) => new Uint8Array(asBytes(c, `code ${i}`)))
}

/**
 * True for the server's "I do not serve this state root" (`ProtocolError` with status UNAVAILABLE,
 * code `PROTOCOL_UNAVAILABLE`): the peer lacks the root — ask another, do not charge it.
 */
export const isUnavailable = (e: unknown): boolean =>
  e instanceof ProtocolError && e.status === Status.UNAVAILABLE

/** The limit that means "to the end of the key space". */
export const LAST_KEY: Uint8Array = new Uint8Array(32).fill(0xff)

/**
 * The key right after `k` (big-endian + 1): where the next range starts once a reply ending at `k`
 * verified with more to come. Null after the last key of the key space.
 */
export function keyAfter(k: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(k) // a copy (a Buffer's slice() would be a view)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]!++
      return out
    }
    out[i] = 0
  }
  return null
}
