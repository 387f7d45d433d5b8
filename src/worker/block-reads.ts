/**
 * Verified headers by height or hash: the head (verified by skipping verification from the
 * checkpoint, by the light client), and headers below it, fetched from any peer over the headers
 * protocol and accepted only once the whole run links by parent hashes to a verified header
 * (core/chain/header-link.ts). Headers verified this way are kept in memory (bounded) and serve as
 * anchors for later walks, so reading down the chain costs one run per gap, not one per read.
 *
 * The walk is bounded: a height more than `MAX_DEPTH` below the head, or above it, is refused with
 * BLOCK_UNAVAILABLE (the message says which), as is a hash that is neither the head's nor a cached
 * verified header's.
 *
 * Security considerations: a peer's headers are believed only as a linked run; a run that does not
 * link is charged to the peer as a bad reply and the next peer is asked. The chain is final (every
 * header is signed by a quorum), so a header once linked never needs checking again.
 */
import type { BlockHeaderAnswer, BlockTag } from '../api/worker-protocol.ts'
import { fromHexExact, toHex } from '../core/bytes.ts'
import type { Header } from '../core/chain/header.ts'
import { linkBelow, UnlinkedHeadersError } from '../core/chain/header-link.ts'
import { InputError, RootsyncError } from '../core/errors.ts'
import { LIMITS } from '../core/protocol/messages.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'
import { ask, peersFor } from './read-peers.ts'

/** How far below the verified head a header is looked up (one headers request's worth). */
export const MAX_DEPTH = LIMITS.maxHeaders
/** Verified headers kept in memory (oldest dropped first). */
const MAX_CACHED = 4 * LIMITS.maxHeaders

export interface VerifiedHeader {
  header: Header
  hash: string
  verifiedBy: BlockHeaderAnswer['verifiedBy']
}

/** What block reads need of the worker's light client (a `ReadContext` is one). */
export interface HeaderSource {
  head(signal?: AbortSignal): Promise<{ number: number; hash: string; full: Header }>
  peers: PeerRegistry
}

/** The header a read is not answered at, and why (code BLOCK_UNAVAILABLE). */
export class BlockUnavailableError extends RootsyncError {
  constructor(block: number | string, message: string) {
    super('BLOCK_UNAVAILABLE', message, { block })
    this.name = 'BlockUnavailableError'
  }
}

/** A block tag as given by a caller: `latest` or a non-negative integer height, else INPUT_INVALID. */
export function parseBlockTag(tag: unknown): BlockTag {
  if (tag === undefined || tag === 'latest') return 'latest'
  if (typeof tag === 'number' && Number.isSafeInteger(tag) && tag >= 0) return tag
  throw new InputError(
    `block: expected 'latest' or a non-negative integer height, got ${JSON.stringify(tag)}`,
  )
}

/** `latest`, a height, or a 0x block hash (32 bytes), else INPUT_INVALID. */
export function parseBlockRef(ref: unknown): BlockTag | Uint8Array {
  if (typeof ref === 'string' && ref.startsWith('0x')) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(ref))
      throw new InputError('block: a hash is 0x followed by 64 hex digits')
    return fromHexExact(ref, 32, 'block hash')
  }
  return parseBlockTag(ref)
}

export function blockAnswer(v: VerifiedHeader): BlockHeaderAnswer {
  const h = v.header
  return {
    number: h.number,
    hash: v.hash,
    parentHash: toHex(h.parentHash),
    stateRoot: toHex(h.stateRoot),
    transactionsRoot: toHex(h.txRoot),
    timestamp: h.timestamp,
    validatorsHash: toHex(h.validatorsHash),
    nextValidatorsHash: toHex(h.nextValidatorsHash),
    extraData: toHex(h.extra),
    verifiedBy: v.verifiedBy,
  }
}

export interface BlockReads {
  /** The verified header at `tag` (`latest`: the head). Rejects BLOCK_UNAVAILABLE where none verifies. */
  at(tag: BlockTag, signal?: AbortSignal): Promise<VerifiedHeader>
  /** The head's, or a cached verified header's, by hash; else BLOCK_UNAVAILABLE. */
  byHash(hash: Uint8Array, signal?: AbortSignal): Promise<VerifiedHeader>
}

export function createBlockReads(src: HeaderSource): BlockReads {
  const byNumber = new Map<number, VerifiedHeader>()
  const numberOf = new Map<string, number>()
  const remember = (v: VerifiedHeader) => {
    if (byNumber.has(v.header.number)) return
    byNumber.set(v.header.number, v)
    numberOf.set(v.hash, v.header.number)
    while (byNumber.size > MAX_CACHED) {
      const [n, old] = byNumber.entries().next().value!
      byNumber.delete(n)
      numberOf.delete(old.hash)
    }
  }

  async function head(signal?: AbortSignal): Promise<VerifiedHeader> {
    const h = await src.head(signal)
    const v: VerifiedHeader = { header: h.full, hash: h.hash, verifiedBy: 'head' }
    // Kept as an anchor: it stays verified after the head moves on.
    remember(v)
    return v
  }

  /** The lowest verified header above `n` (a cached one, or the head). */
  function anchorAbove(n: number, top: VerifiedHeader): VerifiedHeader {
    let best = top
    for (const [m, v] of byNumber) if (m > n && m < best.header.number) best = v
    return best
  }

  /** Headers `from` … `anchor - 1` from one peer, in as many requests as it takes. */
  async function fetchRun(
    p: RegisteredPeer,
    from: number,
    to: number,
    signal: AbortSignal,
  ): Promise<Header[]> {
    const run: Header[] = []
    while (from + run.length < to) {
      const start = from + run.length
      const got = await p.client.headers(start, Math.min(LIMITS.maxHeaders, to - start), signal)
      if (!got.length) throw new RootsyncError('HEADERS_MISSING', `no headers from ${start}`)
      run.push(...got.map((s) => s.header))
    }
    return run.slice(0, to - from)
  }

  async function linked(n: number, top: VerifiedHeader, signal?: AbortSignal): Promise<VerifiedHeader> {
    const anchor = anchorAbove(n, top)
    const errors: string[] = []
    for (const p of await peersFor(src.peers, signal)) {
      const r = await ask((s) => fetchRun(p, n, anchor.header.number, s), signal)
      if (!r.ok) {
        src.peers.charge(p, 'failure', `headers: ${r.error.message}`)
        errors.push(`${p.view.name}: ${r.error.message}`)
        continue
      }
      try {
        const run = linkBelow(anchor.header, n, r.value)
        for (const x of run) remember({ header: x.header, hash: toHex(x.hash), verifiedBy: 'parent-hashes' })
        return byNumber.get(n)!
      } catch (e) {
        if (!(e instanceof UnlinkedHeadersError)) throw e
        src.peers.charge(p, 'bad', `headers that do not link: ${e.message}`)
        errors.push(`${p.view.name}: ${e.message}`)
      }
    }
    throw new BlockUnavailableError(
      n,
      errors.length
        ? `no peer served headers linking block ${n} to a verified header: ${errors.join('; ')}`
        : `no connected peer to ask for the header of block ${n}`,
    )
  }

  return {
    async at(tag, signal) {
      const top = await head(signal)
      if (tag === 'latest' || tag === top.header.number) return top
      const n = top.header.number
      if (tag > n)
        throw new BlockUnavailableError(
          tag,
          `block ${tag} is above the verified head (block ${n}); not verified yet`,
        )
      const cached = byNumber.get(tag)
      if (cached) return cached
      if (n - tag > MAX_DEPTH)
        throw new BlockUnavailableError(
          tag,
          `block ${tag} is ${n - tag} blocks below the verified head (block ${n}); headers are linked at most ${MAX_DEPTH} blocks back`,
        )
      return linked(tag, top, signal)
    },
    async byHash(hash, signal) {
      await head(signal) // the current head is one of the cached
      const hex = toHex(hash)
      const n = numberOf.get(hex)
      const v = n === undefined ? undefined : byNumber.get(n)
      if (v) return v
      throw new BlockUnavailableError(
        hex,
        `block ${hex} is neither the verified head nor a header verified in this session; read it by height first`,
      )
    },
  }
}

const instances = new WeakMap<HeaderSource, BlockReads>()
/** The block reads of one light client (one cache of verified headers per client). */
export function blockReadsOf(src: HeaderSource): BlockReads {
  let b = instances.get(src)
  if (!b) instances.set(src, (b = createBlockReads(src)))
  return b
}

/** A verified header by `latest`, height or 0x hash, answered with every field. */
export async function getBlock(
  src: HeaderSource,
  block: unknown,
  signal?: AbortSignal,
): Promise<BlockHeaderAnswer> {
  const ref = parseBlockRef(block)
  const reads = blockReadsOf(src)
  return blockAnswer(await (ref instanceof Uint8Array ? reads.byHash(ref, signal) : reads.at(ref, signal)))
}
