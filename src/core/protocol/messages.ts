/**
 * The rootsync wire protocol: one libp2p protocol per request kind, each stream carrying
 * length-prefixed RLP messages — requests from the dialer, one response per request, in order
 * (requests may be pipelined). See docs/protocol.md for the full description and limits.
 *
 * Every response is RLP[status, payload]. Status 0 is success; any other status carries a UTF-8
 * message instead of a payload (see `Status`).
 *
 * Security considerations: both sides decode untrusted bytes. Decoders here are strict (exact shapes,
 * canonical integers, fixed-size hashes) and bounded (item counts are checked against limits before
 * anything is built), and throw `RlpError`/`ProtocolError` only. Decoding proves nothing about
 * content: the client still hashes every node and verifies every proof and signature.
 */
import type { AccountProof } from '../account-proof.ts'
import { utf8 } from '../bytes.ts'
import { type Block, blockFromItem, blockItem } from '../chain/block.ts'
import { MAX_VALIDATORS, type SignedHeader, signedHeaderFromItem, signedHeaderItem } from '../chain/header.ts'
import type { LightBlockReply } from '../chain/validators.ts'
import { RlpError, RootsyncError } from '../errors.ts'
import { asBytes, asList, asSafeInt, asUint, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { readRlpItem, rlpAt } from '../rlp-decode.ts'

export const PROTOCOLS = {
  status: '/rootsync/status/1',
  headers: '/rootsync/headers/1',
  nodes: '/rootsync/nodes/1',
  proof: '/rootsync/proof/1',
  root: '/rootsync/root/1',
  /** A signed header with the validator set that signs it and the one that signs the next. */
  validators: '/rootsync/validators/1',
  blocks: '/rootsync/blocks/1',
  /** Ranges of leaves with edge proofs, and code by hash (codec: range.ts). */
  range: '/rootsync/range/1',
} as const
export type ProtocolName = keyof typeof PROTOCOLS

/** Limits both sides enforce. Servers may configure lower item caps; never higher hard caps. */
export const LIMITS = {
  /** Largest request message accepted (bytes). */
  maxRequestBytes: 64 * 1024,
  /** Hard cap on any response message (bytes); clients refuse larger ones. */
  maxResponseBytes: 16 * 1024 * 1024,
  /** Servers stop adding items once a response passes this size (bytes). */
  softResponseBytes: 2 * 1024 * 1024,
  /** Most hashes in one nodes request (servers default to this; at least 384). */
  maxNodeHashes: 1024,
  maxHeaders: 512,
  maxBlocks: 64,
  maxProofSlots: 64,
  /** Most addresses in one validator set on the wire. */
  maxValidators: MAX_VALIDATORS,
  /** Range protocol: servers clamp a request's `maxBytes` (leaf bytes) to this soft cap. */
  maxRangeBytes: 1024 * 1024,
  /** Range protocol: most leaves in one range reply (servers stop there; clients refuse more). */
  maxRangeLeaves: 16 * 1024,
  /** Range protocol: most proof nodes in one range reply (two edge paths of at most 64 nodes). */
  maxRangeProofNodes: 128,
  /** Range protocol: most hashes in one code request. */
  maxCodeHashes: 256,
} as const

export enum Status {
  OK = 0,
  /** The request could not be decoded or breaks the protocol's shape rules. */
  BAD_REQUEST = 1,
  /** More items than the server allows in one request. */
  TOO_MANY_ITEMS = 2,
  /** The server does not have (or no longer keeps) what was asked: an old root, a future height. */
  UNAVAILABLE = 3,
  /** The peer sends requests faster than the server allows; retry later. */
  RATE_LIMITED = 4,
  /** The server failed; not the requester's fault. */
  INTERNAL = 5,
}

export class ProtocolError extends RootsyncError {
  readonly status: Status
  constructor(status: Status, message: string) {
    super(`PROTOCOL_${Status[status] ?? 'UNKNOWN'}`, message, { status })
    this.name = 'ProtocolError'
    this.status = status
  }
}

// ---- requests ---------------------------------------------------------------------------------------

export interface HeadersRequest {
  start: number
  count: number
}
export interface NodesRequest {
  hashes: Uint8Array[]
}
export interface ProofRequest {
  stateRoot: Uint8Array
  address: Uint8Array
  slots: Uint8Array[]
}
export interface RootRequest {
  height: number
}
export type BlocksRequest = HeadersRequest

/** The top RLP item of a request, refused (`BAD_REQUEST`) past `max` bytes. */
export const decodeTop = (bytes: Uint8Array, max: number): RlpItem => {
  if (bytes.length > max)
    throw new ProtocolError(Status.BAD_REQUEST, `message of ${bytes.length} bytes exceeds ${max}`)
  return rlpDecode(bytes)
}

/** A 32-byte hash, or `RlpError`. */
export function hash32(item: RlpItem | undefined, what: string): Uint8Array {
  const b = asBytes(item, what)
  if (b.length !== 32) throw new RlpError(`${what} must be 32 bytes, got ${b.length}`)
  return b
}

function range(bytes: Uint8Array, max: number, what: string): HeadersRequest {
  const l = asList(decodeTop(bytes, LIMITS.maxRequestBytes), `${what} request`, 2)
  const r = { start: asSafeInt(l[0], 'start'), count: asSafeInt(l[1], 'count') }
  if (r.count === 0) throw new ProtocolError(Status.BAD_REQUEST, `${what} request for 0 items`)
  if (r.count > max)
    throw new ProtocolError(Status.TOO_MANY_ITEMS, `${what} request for ${r.count} items; at most ${max}`)
  return r
}

export const encodeStatusRequest = (): Uint8Array => rlpEncode([])
export function decodeStatusRequest(bytes: Uint8Array): void {
  asList(decodeTop(bytes, LIMITS.maxRequestBytes), 'status request', 0)
}

export const encodeHeadersRequest = (r: HeadersRequest): Uint8Array => rlpEncode([r.start, r.count])
export const decodeHeadersRequest = (b: Uint8Array, max: number = LIMITS.maxHeaders): HeadersRequest =>
  range(b, max, 'headers')
export const encodeBlocksRequest = encodeHeadersRequest
export const decodeBlocksRequest = (b: Uint8Array, max: number = LIMITS.maxBlocks): BlocksRequest =>
  range(b, max, 'blocks')

export const encodeNodesRequest = (r: NodesRequest): Uint8Array => rlpEncode([r.hashes])
export function decodeNodesRequest(bytes: Uint8Array, max: number = LIMITS.maxNodeHashes): NodesRequest {
  const l = asList(decodeTop(bytes, LIMITS.maxRequestBytes), 'nodes request', 1)
  const hashes = asList(l[0], 'hashes')
  if (hashes.length === 0) throw new ProtocolError(Status.BAD_REQUEST, 'nodes request for 0 hashes')
  if (hashes.length > max)
    throw new ProtocolError(
      Status.TOO_MANY_ITEMS,
      `nodes request for ${hashes.length} hashes; at most ${max}`,
    )
  return { hashes: hashes.map((h, i) => hash32(h, `hash ${i}`)) }
}

export const encodeProofRequest = (r: ProofRequest): Uint8Array =>
  rlpEncode([r.stateRoot, r.address, r.slots])
export function decodeProofRequest(bytes: Uint8Array): ProofRequest {
  const l = asList(decodeTop(bytes, LIMITS.maxRequestBytes), 'proof request', 3)
  const address = asBytes(l[1], 'address')
  if (address.length !== 20) throw new RlpError(`address must be 20 bytes, got ${address.length}`)
  const slots = asList(l[2], 'slots')
  if (slots.length > LIMITS.maxProofSlots)
    throw new ProtocolError(
      Status.TOO_MANY_ITEMS,
      `proof request for ${slots.length} slots; at most ${LIMITS.maxProofSlots}`,
    )
  return {
    stateRoot: hash32(l[0], 'state root'),
    address,
    slots: slots.map((s, i) => hash32(s, `slot ${i}`)),
  }
}

export const encodeRootRequest = (r: RootRequest): Uint8Array => rlpEncode([r.height])
export function decodeRootRequest(bytes: Uint8Array): RootRequest {
  const l = asList(decodeTop(bytes, LIMITS.maxRequestBytes), 'root request', 1)
  return { height: asSafeInt(l[0], 'height') }
}

// ---- responses --------------------------------------------------------------------------------------

export interface StatusResponse {
  chainId: number
  genesisHash: Uint8Array
  headNumber: number
  headHash: Uint8Array
  headStateRoot: Uint8Array
  /** Lowest height whose state this node still serves (the retention window's start). */
  oldestStateNumber: number
}

export function encodeError(status: Status, message: string): Uint8Array {
  return rlpEncode([status, utf8(message.slice(0, 200))])
}

/** A success response `[0, payload]`. */
export function ok(payload: unknown): Uint8Array {
  return rlpEncode([0, payload] as never)
}

/** Splits a response into its payload, or throws the `ProtocolError` the server sent. */
export function payloadOf(bytes: Uint8Array): RlpItem {
  if (bytes.length > LIMITS.maxResponseBytes)
    throw new ProtocolError(
      Status.BAD_REQUEST,
      `response of ${bytes.length} bytes exceeds ${LIMITS.maxResponseBytes}`,
    )
  const l = asList(rlpDecode(bytes), 'response', 2)
  const status = asSafeInt(l[0], 'status')
  if (status === Status.OK) return l[1]!
  const message = new TextDecoder('utf-8', { fatal: false }).decode(asBytes(l[1], 'error message', 1024))
  throw new ProtocolError(
    status in Status ? status : Status.INTERNAL,
    `peer replied ${Status[status] ?? status}: ${message}`,
  )
}

export const encodeStatusResponse = (s: StatusResponse): Uint8Array =>
  ok([s.chainId, s.genesisHash, s.headNumber, s.headHash, s.headStateRoot, s.oldestStateNumber])
export function decodeStatusResponse(bytes: Uint8Array): StatusResponse {
  const l = asList(payloadOf(bytes), 'status', 6)
  return {
    chainId: asSafeInt(l[0], 'chain id'),
    genesisHash: hash32(l[1], 'genesis hash'),
    headNumber: asSafeInt(l[2], 'head number'),
    headHash: hash32(l[3], 'head hash'),
    headStateRoot: hash32(l[4], 'head state root'),
    oldestStateNumber: asSafeInt(l[5], 'oldest state number'),
  }
}

export const encodeHeadersResponse = (hs: SignedHeader[]): Uint8Array => ok(hs.map(signedHeaderItem))
export function decodeHeadersResponse(bytes: Uint8Array, max: number = LIMITS.maxHeaders): SignedHeader[] {
  const l = asList(payloadOf(bytes), 'headers')
  if (l.length > max) throw new RlpError(`${l.length} headers in a response; at most ${max}`)
  return l.map(signedHeaderFromItem)
}

/**
 * Nodes response: one entry per requested hash, in request order; empty bytes where the server does
 * not have the node. The list may stop early (soft size limit): hashes past its end were not served.
 */
export const encodeNodesResponse = (nodes: Uint8Array[]): Uint8Array => ok(nodes)
export function decodeNodesResponse(bytes: Uint8Array, requested: number): Uint8Array[] {
  const fast = scanNodesResponse(bytes, requested)
  if (fast) return fast
  // Anything else — an error status, malformed input — goes through the full decoders, which throw
  // the proper error (or, for an unusual but valid encoding, decode it).
  const l = asList(payloadOf(bytes), 'nodes')
  if (l.length > requested) throw new RlpError(`${l.length} nodes in reply to ${requested} hashes`)
  // Copied (a Node Buffer's slice() is only a view): each node outlives the reply buffer.
  return l.map((x, i) => new Uint8Array(asBytes(x, `node ${i}`)))
}

/**
 * The common nodes reply, `[0, [node, …]]` within the limits, read with the allocation-free header
 * reader: one copy per node and nothing else (no RLP views or tuples: 2.3% self time of the sync
 * client plus their GC in bench:sync's profile). Null for anything else, which the full decoder then
 * handles; where this accepts, the full decoder returns the same nodes (test/core/protocol.test.ts).
 */
export function scanNodesResponse(bytes: Uint8Array, requested: number): Uint8Array[] | null {
  if (bytes.length > LIMITS.maxResponseBytes) return null
  // A Node Buffer's slice() is a view; a plain Uint8Array's is a copy.
  const b =
    bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
  if (!readRlpItem(b, 0, b.length) || !rlpAt.list || rlpAt.end !== b.length) return null
  const end = rlpAt.end
  // Status OK: the integer 0, canonically the empty string.
  if (rlpAt.start >= end || b[rlpAt.start] !== 0x80) return null
  if (!readRlpItem(b, rlpAt.start + 1, end) || !rlpAt.list || rlpAt.end !== end) return null
  const out: Uint8Array[] = []
  for (let at = rlpAt.start; at < end; ) {
    if (out.length >= requested || !readRlpItem(b, at, end) || rlpAt.list) return null
    out.push(b.slice(rlpAt.start, rlpAt.end))
    at = rlpAt.end
  }
  return out.length > requested ? null : out
}

export function encodeProofResponse(p: AccountProof): Uint8Array {
  return ok([
    p.address,
    p.balance,
    p.nonce,
    p.codeHash,
    p.storageHash,
    p.accountProof,
    p.storageProof.map((s) => [s.key, s.value, s.proof]),
  ])
}
export function decodeProofResponse(bytes: Uint8Array): AccountProof {
  const l = asList(payloadOf(bytes), 'proof', 7)
  const nodes = (x: RlpItem | undefined, what: string) => {
    const n = asList(x, what)
    if (n.length > 64) throw new RlpError(`${what}: ${n.length} nodes; a trie path has at most 64`)
    return n.map((b, i) => asBytes(b, `${what}[${i}]`))
  }
  const storage = asList(l[6], 'storage proofs')
  if (storage.length > LIMITS.maxProofSlots) throw new RlpError(`${storage.length} storage proofs`)
  const address = asBytes(l[0], 'address')
  if (address.length !== 20) throw new RlpError('address must be 20 bytes')
  return {
    address,
    balance: asUint(l[1], 'balance'),
    nonce: asUint(l[2], 'nonce', 8),
    codeHash: hash32(l[3], 'code hash'),
    storageHash: hash32(l[4], 'storage hash'),
    accountProof: nodes(l[5], 'account proof'),
    storageProof: storage.map((s, i) => {
      const p = asList(s, `storage proof ${i}`, 3)
      return {
        key: hash32(p[0], 'slot'),
        value: asUint(p[1], 'slot value'),
        proof: nodes(p[2], `storage proof ${i}`),
      }
    }),
  }
}

export type ValidatorsRequest = RootRequest
export const encodeValidatorsRequest = encodeRootRequest
export const decodeValidatorsRequest = (bytes: Uint8Array): ValidatorsRequest => decodeRootRequest(bytes)

export const encodeValidatorsResponse = (r: LightBlockReply): Uint8Array =>
  ok([signedHeaderItem(r.signed), r.validators, r.nextValidators])
/** Shapes only (bounded lists of 20-byte addresses); `lightBlockOf` checks them against the header. */
export function decodeValidatorsResponse(bytes: Uint8Array): LightBlockReply {
  const l = asList(payloadOf(bytes), 'validators response', 3)
  const set = (item: RlpItem | undefined, what: string) => {
    const xs = asList(item, what)
    if (xs.length > LIMITS.maxValidators)
      throw new RlpError(`${what} has ${xs.length} validators, at most ${LIMITS.maxValidators}`)
    return xs.map((x, i) => {
      const a = asBytes(x, `${what} #${i}`)
      if (a.length !== 20) throw new RlpError(`${what} #${i} must be 20 bytes, got ${a.length}`)
      return a
    })
  }
  return {
    signed: signedHeaderFromItem(l[0]!),
    validators: set(l[1], 'validator set'),
    nextValidators: set(l[2], 'next validator set'),
  }
}

export const encodeRootResponse = (h: SignedHeader): Uint8Array => ok(signedHeaderItem(h))
export const decodeRootResponse = (bytes: Uint8Array): SignedHeader => signedHeaderFromItem(payloadOf(bytes))

export const encodeBlocksResponse = (blocks: Block[]): Uint8Array => ok(blocks.map(blockItem))
export function decodeBlocksResponse(bytes: Uint8Array, max: number = LIMITS.maxBlocks): Block[] {
  const l = asList(payloadOf(bytes), 'blocks')
  if (l.length > max) throw new RlpError(`${l.length} blocks in a response; at most ${max}`)
  return l.map(blockFromItem)
}
