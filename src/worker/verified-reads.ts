/**
 * Verified reads: an account, or one storage slot, under the newest verified header.
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
 */
import type { AccountAnswer, HeaderView, StorageAnswer } from '../api/worker-protocol.ts'
import type { Account } from '../core/account.ts'
import { verifyRequestedProof } from '../core/account-proof.ts'
import { equals, fromHexExact, padLeft, toHex } from '../core/bytes.ts'
import { accountProof } from '../core/chain/state-proof.ts'
import { timeoutSignal } from '../core/clock.ts'
import { InputError, RootsyncError } from '../core/errors.ts'
import type { NodeStore } from '../core/store.ts'
import { throwIfStopped } from '../core/task.ts'
import { realClock } from '../platform/clock.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'
import type { ProofCache } from './proof-cache.ts'
import { damageOf, type RepairFlag } from './repair-flag.ts'

export interface ReadContext {
  /**
   * The newest verified header; waits for one (the first header verification) if there is none,
   * until `signal` aborts.
   */
  head(signal?: AbortSignal): Promise<HeaderView & { root: Uint8Array }>
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

const PROOF_TIMEOUT_MS = 5000
/** How long a read that must go by proof waits for a first connected peer. */
const PEER_WAIT_MS = 10_000

/**
 * The usable peers; while there are none, waits (bounded) for the first to connect: a return visit
 * answers from IndexedDB before it connects, so a read that must go by proof (the local state is
 * damaged) can come before any peer is up.
 */
async function peersFor(ctx: ReadContext, stop?: AbortSignal): Promise<RegisteredPeer[]> {
  if (ctx.peers.usable().length) return ctx.peers.usable()
  const { signal, clear } = timeoutSignal(realClock, stop, PEER_WAIT_MS)
  await new Promise<void>((resolve) => {
    const done = () => {
      off()
      signal.removeEventListener('abort', done)
      resolve()
    }
    const off = ctx.peers.onJoin(done)
    signal.addEventListener('abort', done, { once: true })
  })
  clear()
  if (stop) throwIfStopped(stop, 'read')
  return ctx.peers.usable()
}

const shape = (a: Account | null): AccountAnswer['account'] =>
  a && {
    balance: a.balance.toString(),
    nonce: a.nonce.toString(),
    codeHash: toHex(a.codeHash),
    storageRoot: toHex(a.storageRoot),
  }

function parseSlot(slotHex: string): Uint8Array {
  const s = slotHex.trim()
  if (!/^0x[0-9a-fA-F]{1,64}$/.test(s))
    throw new InputError('slot: expected 0x followed by 1 to 64 hex digits')
  return padLeft(fromHexExact(s.length % 2 ? `0x0${s.slice(2)}` : s, (s.length - 1) >> 1, 'slot'), 32)
}

function parseAddress(addressHex: string): Uint8Array {
  const a = addressHex.trim()
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new InputError('address: expected 0x followed by 40 hex digits')
  return fromHexExact(a, 20, 'address')
}

/** Asks peers in turn for a proof of `address` (and `slots`) until one verifies. */
async function proven(
  ctx: ReadContext,
  root: Uint8Array,
  address: Uint8Array,
  slots: Uint8Array[],
  stop?: AbortSignal,
) {
  const errors: string[] = []
  for (const p of await peersFor(ctx, stop)) {
    let proof: Awaited<ReturnType<typeof p.client.proof>>
    const { signal, clear } = timeoutSignal(realClock, stop, PROOF_TIMEOUT_MS)
    try {
      proof = await p.client.proof({ stateRoot: root, address, slots }, signal)
    } catch (e) {
      if (stop) throwIfStopped(stop, 'read')
      errors.push(`${p.view.name}: ${(e as Error).message}`)
      continue
    } finally {
      clear()
    }
    try {
      return { v: verifyRequestedProof(root, address, slots, proof), peer: p.view.name, proof }
    } catch (e) {
      ctx.peers.charge(p, 'bad', `invalid proof: ${(e as Error).message}`)
      errors.push(`${p.view.name}: invalid proof (${(e as Error).message})`)
    }
  }
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
    const p = (await peersFor(ctx, ac.signal)).find((x) => x.status)
    if (!p?.status) return null
    spec.root = p.status.headStateRoot
    const { signal, clear } = timeoutSignal(realClock, ac.signal, PROOF_TIMEOUT_MS)
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

/**
 * One verified read: from the proof cache, else from the complete local state, else by proof from
 * a peer. Local reads build the same EIP-1186 proof from IndexedDB and verify it, so every path
 * ends in `verifyRequestedProof` against the verified header's root.
 */
async function read(ctx: ReadContext, address: Uint8Array, slots: Uint8Array[], signal?: AbortSignal) {
  const early = speculate(ctx, address, slots, signal)
  const { root, ...header } = await ctx.head(signal).catch((e) => {
    early?.cancel()
    throw e
  })
  const cached = ctx.cache?.get(root, address, slots)
  if (cached) {
    try {
      const v = verifyRequestedProof(root, address, slots, cached)
      early?.cancel()
      return { v, source: 'local' as const, cached: true, header }
    } catch {
      // A stale or damaged entry: read it again below.
    }
  }
  const local = ctx.localState(root)
  if (local) {
    try {
      const proof = await accountProof(local, root, address, slots)
      const v = verifyRequestedProof(root, address, slots, proof)
      ctx.cache?.put(root, proof, slots)
      early?.cancel()
      return { v, source: 'local' as const, cached: false, peer: undefined, header }
    } catch (e) {
      const damage = damageOf(e)
      if (!damage) throw e
      await ctx.damaged(damage)
    }
  }
  const { v, peer, proof } =
    (await settled(early, root, address, slots)) ?? (await proven(ctx, root, address, slots, signal))
  ctx.cache?.put(root, proof, slots)
  return { v, source: 'proof' as const, cached: false, peer, header }
}

export async function getAccount(
  ctx: ReadContext,
  addressHex: string,
  signal?: AbortSignal,
): Promise<AccountAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  const { v, source, cached, peer, header } = await read(ctx, address, [], signal)
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

export async function getStorage(
  ctx: ReadContext,
  addressHex: string,
  slotHex: string,
  signal?: AbortSignal,
): Promise<StorageAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  const slot = parseSlot(slotHex)
  const { v, source, cached, peer, header } = await read(ctx, address, [slot], signal)
  const value = v.account ? (v.storage[0]?.value ?? 0n) : 0n
  return {
    address: toHex(address),
    slot: toHex(slot),
    value: `0x${value.toString(16).padStart(64, '0')}`,
    source,
    cached,
    peer,
    header,
    ms: performance.now() - t,
  }
}
