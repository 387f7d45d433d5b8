/**
 * Verified reads: an account, one storage slot, or an EIP-1186 proof (the account and any slots,
 * with the nodes they were verified from), under the newest verified header or, with a height, under
 * a header linked to it by parent hashes (block-reads.ts; code: code-reads.ts).
 *
 * When the local state for that header's root is complete, the answer comes from IndexedDB: the
 * proof path is read through the trie (every node re-hashed against the hash that pointed to it) and
 * verified. Before that, it is an EIP-1186 proof from a peer, checked against the verified header's
 * state root; a peer whose proof fails is charged and the next one asked. Either way the answer
 * names its source and the header it is proven against, and its proof path is cached on the device
 * (proof-cache.ts) so the next visit can answer before anything else has loaded.
 *
 * A cold start's first read does not wait for the head's verification to ask for its proof: while
 * the head is being verified, the proof is asked at the state root the first peer claims for its
 * head (`speculate`). It is used only when the verified head has that very root, and verified
 * against the verified root like any other; otherwise it is dropped and the proof asked again.
 *
 * A local read that meets a missing or corrupt node does not fail: the damage is reported
 * (`ReadContext.damaged`, which flags the state for repair, repair-flag.ts) and the same read is
 * answered by proof from a peer instead, verified the same way. From then on the local state is not
 * used as complete.
 *
 * At an older height the state root is that header's: answered locally only if the complete local
 * state is that very root, else by proof from peers at that root; peers keep a window of recent
 * states, so when every peer asked no longer keeps it the read fails with STATE_UNAVAILABLE.
 * Only the head's answers go into the proof cache (it serves the next visit's first answer).
 */
import type {
  AccountAnswer,
  BlockTag,
  HeaderView,
  ProofAnswer,
  StorageAnswer,
} from '../api/worker-protocol.ts'
import type { Account } from '../core/account.ts'
import { type AccountProof, type VerifiedAccount, verifyRequestedProof } from '../core/account-proof.ts'
import { equals, fromHexExact, padLeft, toHex } from '../core/bytes.ts'
import type { Header } from '../core/chain/header.ts'
import { accountProof } from '../core/chain/state-proof.ts'
import { timeoutSignal } from '../core/clock.ts'
import { InputError, RootsyncError } from '../core/errors.ts'
import { LIMITS } from '../core/protocol/messages.ts'
import { isUnavailable } from '../core/protocol/range.ts'
import type { NodeStore } from '../core/store.ts'
import { realClock } from '../platform/clock.ts'
import { blockReadsOf, parseBlockTag } from './block-reads.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'
import type { ProofCache } from './proof-cache.ts'
import { ask, peersFor, READ_REQUEST_TIMEOUT_MS } from './read-peers.ts'
import { damageOf, type RepairFlag } from './repair-flag.ts'

export interface ReadContext {
  /**
   * The newest verified header; waits for one (the first header verification) if there is none,
   * until `signal` aborts.
   */
  head(signal?: AbortSignal): Promise<HeaderView & { root: Uint8Array; full: Header }>
  /** The store, when the state under `root` is complete in it (and not flagged for repair). */
  localState(root: Uint8Array): NodeStore | null
  /** A local read met damage: flag the state for repair (persisted, reported); idempotent. */
  damaged(flag: RepairFlag): Promise<void>
  peers: PeerRegistry
  /** Whether `head()` answers at once (false while the first head is being verified). */
  headReady?(): boolean
  /** Proof paths of recent reads, answered from before the node index has loaded. */
  cache: ProofCache | null
}

const shape = (a: Account | null): AccountAnswer['account'] =>
  a && {
    balance: a.balance.toString(),
    nonce: a.nonce.toString(),
    codeHash: toHex(a.codeHash),
    storageRoot: toHex(a.storageRoot),
  }

function parseSlot(slotHex: unknown): Uint8Array {
  const s = typeof slotHex === 'string' ? slotHex.trim() : ''
  if (!/^0x[0-9a-fA-F]{1,64}$/.test(s))
    throw new InputError('slot: expected 0x followed by 1 to 64 hex digits')
  return padLeft(fromHexExact(s.length % 2 ? `0x0${s.slice(2)}` : s, (s.length - 1) >> 1, 'slot'), 32)
}

export function parseAddress(addressHex: unknown): Uint8Array {
  const a = typeof addressHex === 'string' ? addressHex.trim() : ''
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new InputError('address: expected 0x followed by 40 hex digits')
  return fromHexExact(a, 20, 'address')
}

/**
 * Asks peers in turn for a proof of `address` (and `slots`) until one verifies. `height`: the
 * block of an older root (not the head's): when every peer asked no longer keeps that state, the
 * read fails with STATE_UNAVAILABLE naming it.
 */
async function proven(
  ctx: ReadContext,
  root: Uint8Array,
  address: Uint8Array,
  slots: Uint8Array[],
  stop?: AbortSignal,
  height?: number,
) {
  const errors: string[] = []
  let unavailable = 0
  for (const p of await peersFor(ctx.peers, stop)) {
    const r = await ask((signal) => p.client.proof({ stateRoot: root, address, slots }, signal), stop)
    if (!r.ok) {
      if (isUnavailable(r.error)) unavailable++
      errors.push(`${p.view.name}: ${r.error.message}`)
      continue
    }
    try {
      return { v: verifyRequestedProof(root, address, slots, r.value), peer: p.view.name, proof: r.value }
    } catch (e) {
      ctx.peers.charge(p, 'bad', `invalid proof: ${(e as Error).message}`)
      errors.push(`${p.view.name}: invalid proof (${(e as Error).message})`)
    }
  }
  if (height !== undefined && unavailable && unavailable === errors.length)
    throw new RootsyncError(
      'STATE_UNAVAILABLE',
      `no connected peer keeps the state of block ${height} any more: ${errors.join('; ')}`,
      { block: height },
    )
  throw new RootsyncError(
    'NO_VALID_PROOF',
    errors.length
      ? `no peer gave a valid proof: ${errors.join('; ')}`
      : 'no connected peer to ask for a proof',
  )
}

/** A proof asked before the head verified, at the root a peer claims (unverified until compared). */
interface Speculation {
  /** The root it was asked at, once a peer was found (null before). */
  root: Uint8Array | null
  result: Promise<{
    peer: RegisteredPeer
    proof: Awaited<ReturnType<RegisteredPeer['client']['proof']>>
  } | null>
  cancel(): void
}

/** Starts a speculative proof request when the head is not verified yet (a cold start), else null. */
function speculate(
  ctx: ReadContext,
  address: Uint8Array,
  slots: Uint8Array[],
  stop?: AbortSignal,
): Speculation | null {
  if (ctx.headReady?.() !== false) return null
  const ac = new AbortController()
  const cancel = () => ac.abort(new DOMException('not needed', 'AbortError'))
  stop?.addEventListener('abort', cancel, { once: true })
  const spec: Speculation = { root: null, result: Promise.resolve(null), cancel }
  spec.result = (async () => {
    const p = (await peersFor(ctx.peers, ac.signal)).find((x) => x.status)
    if (!p?.status) return null
    spec.root = p.status.headStateRoot
    const { signal, clear } = timeoutSignal(realClock, ac.signal, READ_REQUEST_TIMEOUT_MS)
    try {
      return { peer: p, proof: await p.client.proof({ stateRoot: spec.root, address, slots }, signal) }
    } finally {
      clear()
    }
  })()
    .catch(() => null)
    .finally(() => stop?.removeEventListener('abort', cancel))
  return spec
}

/** The speculative proof, verified against the verified `root`, if it was asked at that root. */
async function settled(spec: Speculation | null, root: Uint8Array, address: Uint8Array, slots: Uint8Array[]) {
  if (!spec) return null
  if (!spec.root || !equals(spec.root, root)) {
    spec.cancel()
    return null
  }
  const got = await spec.result
  if (!got) return null
  try {
    return {
      v: verifyRequestedProof(root, address, slots, got.proof),
      peer: got.peer.view.name,
      proof: got.proof,
    }
  } catch {
    // Asked again below, and charged there if it is wrong again.
    return null
  }
}

/** A verified read's result: the verified account, the proof it was verified from, where from, at which header. */
export interface VerifiedRead {
  v: VerifiedAccount
  proof: AccountProof
  source: 'local' | 'proof'
  cached: boolean
  peer?: string
  header: HeaderView
  /** The state root it is proven against (`header.stateRoot`'s bytes). */
  root: Uint8Array
}

/**
 * One verified read: from the proof cache, else from the complete local state, else by proof from
 * a peer. Local reads build the same EIP-1186 proof from IndexedDB and verify it, so every path
 * ends in `verifyRequestedProof` against the verified header's root. At a height other than the
 * head's, the header is verified by parent hashes first (block-reads.ts) and its root used.
 */
export async function read(
  ctx: ReadContext,
  address: Uint8Array,
  slots: Uint8Array[],
  signal?: AbortSignal,
  block: BlockTag = 'latest',
): Promise<VerifiedRead> {
  const at = await atBlock(ctx, block, address, slots, signal)
  const { root, header, early, height } = at
  const cached = ctx.cache?.get(root, address, slots)
  if (cached) {
    try {
      const v = verifyRequestedProof(root, address, slots, cached)
      early?.cancel()
      return { v, proof: cached, source: 'local', cached: true, header, root }
    } catch {
      // A stale or damaged entry: read it again below.
    }
  }
  const local = ctx.localState(root)
  if (local) {
    try {
      const proof = await accountProof(local, root, address, slots)
      const v = verifyRequestedProof(root, address, slots, proof)
      if (height === undefined) ctx.cache?.put(root, proof, slots)
      early?.cancel()
      return { v, proof, source: 'local', cached: false, header, root }
    } catch (e) {
      const damage = damageOf(e)
      if (!damage) throw e
      await ctx.damaged(damage)
    }
  }
  const { v, peer, proof } =
    (await settled(early, root, address, slots)) ?? (await proven(ctx, root, address, slots, signal, height))
  // Only the head's answers are cached: the cache is for the next visit's first answer.
  if (height === undefined) ctx.cache?.put(root, proof, slots)
  return { v, proof, source: 'proof', cached: false, peer, header, root }
}

/**
 * The verified header a read is answered at: `latest`, the head (with a speculative proof on a cold
 * start), or the one at a height (`height` set: its state may no longer be served).
 */
async function atBlock(
  ctx: ReadContext,
  block: BlockTag,
  address: Uint8Array,
  slots: Uint8Array[],
  signal?: AbortSignal,
): Promise<{ root: Uint8Array; header: HeaderView; early: Speculation | null; height?: number }> {
  if (block === 'latest') {
    const early = speculate(ctx, address, slots, signal)
    const {
      root,
      full: _,
      ...header
    } = await ctx.head(signal).catch((e) => {
      early?.cancel()
      throw e
    })
    return { root, header, early }
  }
  const at = await blockReadsOf(ctx).at(block, signal)
  const header = { number: at.header.number, hash: at.hash, stateRoot: toHex(at.header.stateRoot) }
  return { root: at.header.stateRoot, header, early: null, height: at.header.number }
}

export async function getAccount(
  ctx: ReadContext,
  addressHex: string,
  signal?: AbortSignal,
  block?: BlockTag,
): Promise<AccountAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  const { v, source, cached, peer, header } = await read(ctx, address, [], signal, parseBlockTag(block))
  return {
    address: toHex(address),
    account: shape(v.account),
    source,
    cached,
    peer,
    header,
    ms: performance.now() - t,
  }
}

const word = (x: bigint) => `0x${x.toString(16).padStart(64, '0')}`

export async function getStorage(
  ctx: ReadContext,
  addressHex: string,
  slotHex: string,
  signal?: AbortSignal,
  block?: BlockTag,
): Promise<StorageAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  const slot = parseSlot(slotHex)
  const { v, source, cached, peer, header } = await read(ctx, address, [slot], signal, parseBlockTag(block))
  const value = v.account ? (v.storage[0]?.value ?? 0n) : 0n
  return {
    address: toHex(address),
    slot: toHex(slot),
    value: word(value),
    source,
    cached,
    peer,
    header,
    ms: performance.now() - t,
  }
}

/**
 * EIP-1186: the account and `slots` with the proof nodes they were verified from (hex, root
 * first), so the caller can verify them again. An absent account's proof proves its absence (and
 * its slots carry empty proofs and zero values); an absent slot's proof proves the slot's absence.
 */
export async function getProof(
  ctx: ReadContext,
  addressHex: string,
  slotsHex: string[],
  signal?: AbortSignal,
  block?: BlockTag,
): Promise<ProofAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  if (!Array.isArray(slotsHex)) throw new InputError('slots: expected an array of 0x slots')
  if (slotsHex.length > LIMITS.maxProofSlots)
    throw new InputError(`slots: at most ${LIMITS.maxProofSlots} in one proof, got ${slotsHex.length}`)
  const slots = slotsHex.map(parseSlot)
  const r = await read(ctx, address, slots, signal, parseBlockTag(block))
  return {
    address: toHex(address),
    account: shape(r.v.account),
    accountProof: r.proof.accountProof.map(toHex),
    storage: slots.map((key, i) => ({
      key: toHex(key),
      value: word(r.v.account ? (r.v.storage[i]?.value ?? 0n) : 0n),
      proof: (r.proof.storageProof[i]?.proof ?? []).map(toHex),
    })),
    source: r.source,
    cached: r.cached,
    peer: r.peer,
    header: r.header,
    ms: performance.now() - t,
  }
}
