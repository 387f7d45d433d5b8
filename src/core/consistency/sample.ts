/**
 * Sampled paths of a consistency check, read locally (issue 11 item 3): S accounts chosen uniformly
 * over the hashed key space, a few storage slots of those that have storage, and every watched
 * address — each with what the local trie holds there, or the damage met on the way.
 *
 * A path is read the way the range protocol proves it: the first leaf at or after a key. A random
 * key reaches the leaf after it (the nearest one in key order; past the last leaf, the first leaf);
 * a path's value is that leaf's when the leaf IS the key, and absence otherwise. Reading this way
 * touches exactly the nodes a range proof from that key holds (the key's own path and its
 * successor's), so damage met on a sampled path is always covered by the proof that settles it, and
 * path-repair.ts can replace it from that proof. A sampled walk that meets damage before it reaches
 * a leaf does not know the leaf's key: the path keeps the random key it started from.
 *
 * Security considerations: the local store is untrusted too. Every node read is re-hashed against
 * the reference that led to it and decoded (`checkEntry`, the one check of a stored entry) before it
 * is followed, so a local value returned here is the one the root commits to, and anything else is
 * reported as damage ('missing', 'corrupt', 'undecodable') naming the hash its parent commits to.
 * The random source only chooses where to look, never what is accepted.
 */
import { decodeAccount, EMPTY_ROOT } from '../account.ts'
import { equals, fromHex, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { throwIfStopped } from '../task.ts'
import type { TrieKind } from '../trie/node.ts'
import { checkEntry, StateIntegrityError, type WalkSource } from '../trie/reachable.ts'
import { isEmptyRoot, Trie } from '../trie/trie.ts'
import type { StatePath } from './types.ts'

export interface SampledPath {
  path: StatePath
  trie: 'account' | 'storage'
  /** Hashed key in its trie (32 bytes). */
  key: Uint8Array
  /** For storage paths: the storage root and hashed account key the slot lives under. */
  storage?: { account: Uint8Array; root: Uint8Array }
  /** What the local trie holds: the leaf value (null = absent), or the damage met on the way. */
  local:
    | { value: Uint8Array | null }
    | { damage: { problem: 'missing' | 'corrupt' | 'undecodable'; hash: string } }
}

export type LocalRead = SampledPath['local']

export interface SampleOptions {
  /** Accounts chosen uniformly (a random key → the leaf at or after it). */
  accounts: number
  /** Slots chosen the same way in the storage trie of each sampled account that has storage. */
  slotsPerAccount: number
  /** Addresses always checked (20 bytes each); their keccak is their key. */
  watched: Uint8Array[]
  /** Uniform in [0, 1). */
  random: () => number
}

const ZERO_KEY = new Uint8Array(32)

/**
 * S accounts chosen uniformly (random key → nearest leaf), `slotsPerAccount` slots of those with
 * storage, plus every watched address (its keccak as key). Every local node read is re-hashed. A
 * leaf reached twice, or a damaged node met twice, gives one path.
 */
export async function sampleLocal(
  store: NodeStore,
  root: Uint8Array,
  o: SampleOptions,
  signal: AbortSignal,
): Promise<SampledPath[]> {
  const out: SampledPath[] = []
  const seen = new Set<string>()
  const add = (p: SampledPath): void => {
    const id = 'damage' in p.local ? p.local.damage.hash : `${p.path.account}/${p.path.slot ?? ''}`
    if (seen.has(id)) return
    seen.add(id)
    out.push(p)
  }
  if (!isEmptyRoot(root))
    for (let i = 0; i < o.accounts; i++) {
      throwIfStopped(signal, 'consistency sample')
      const { key, local } = await nearestLeaf(store, root, randomKey(o.random), 'state')
      add({ path: { account: toHex(key) }, trie: 'account', key, local })
      if (!('value' in local) || !local.value) continue
      const storageRoot = decodeAccount(local.value).storageRoot
      if (equals(storageRoot, EMPTY_ROOT)) continue
      for (let j = 0; j < o.slotsPerAccount; j++) {
        const slot = await nearestLeaf(store, storageRoot, randomKey(o.random), 'storage')
        add({
          path: { account: toHex(key), slot: toHex(slot.key) },
          trie: 'storage',
          key: slot.key,
          storage: { account: key, root: storageRoot },
          local: slot.local,
        })
      }
    }
  for (const address of o.watched) {
    throwIfStopped(signal, 'consistency sample')
    const key = keccak256(address)
    out.push({
      path: { account: toHex(key), address: toHex(address) },
      trie: 'account',
      key,
      local: await lookupLocal(store, root, key),
    })
  }
  return out
}

/**
 * The local leaf at `key` in the trie under `root` (re-hashing each node), or the damage met. Read
 * as a range proof from `key` reads it: an absent key's successor leaf is read (and checked) too.
 * `trie` says how leaves are checked: account leaves must decode as accounts.
 */
export async function lookupLocal(
  store: WalkSource,
  root: Uint8Array,
  key: Uint8Array,
  trie: 'account' | 'storage' = 'account',
): Promise<LocalRead> {
  const r = await firstLeaf(store, root, key, trie === 'account' ? 'state' : 'storage')
  if ('damage' in r) return r
  return { value: r.leaf && equals(r.leaf[0], key) ? r.leaf[1] : null }
}

/** Equal local reads (the same value, or both absent); damage equals nothing. */
export function sameValue(a: LocalRead, proven: Uint8Array | null): boolean {
  if (!('value' in a)) return false
  return a.value === null || proven === null ? a.value === proven : equals(a.value, proven)
}

type FirstLeaf = { leaf: [Uint8Array, Uint8Array] | null } | { damage: DamageSeen }
type DamageSeen = { problem: 'missing' | 'corrupt' | 'undecodable'; hash: string }

/** The leaf at or after `from` and, past the trie's last leaf, the first one: its key and local read. */
async function nearestLeaf(
  store: WalkSource,
  root: Uint8Array,
  from: Uint8Array,
  kind: TrieKind,
): Promise<{ key: Uint8Array; local: LocalRead }> {
  let origin = from
  let r = await firstLeaf(store, root, origin, kind)
  if ('leaf' in r && !r.leaf) {
    origin = ZERO_KEY
    r = await firstLeaf(store, root, origin, kind)
  }
  if ('damage' in r) return { key: origin, local: r }
  // A non-empty trie has a first leaf: an empty one is not sampled (an empty storage root is skipped).
  const [key, value] = r.leaf ?? [origin, null]
  return { key, local: { value } }
}

/** The first leaf at or after `from` under `root`, every node re-hashed and decoded first. */
async function firstLeaf(
  store: WalkSource,
  root: Uint8Array,
  from: Uint8Array,
  kind: TrieKind,
): Promise<FirstLeaf> {
  if (isEmptyRoot(root)) return { leaf: null }
  const trie = new Trie(checkedReads(store, kind), { root })
  try {
    for await (const leaf of trie.entries(from)) return { leaf }
    return { leaf: null }
  } catch (e) {
    if (e instanceof StateIntegrityError) return { damage: { problem: e.problem, hash: e.hash } }
    throw e
  }
}

/**
 * A read-only store over `src` whose reads are checked (`checkEntry`): a damaged entry throws its
 * `StateIntegrityError` instead of reaching the trie. The walks here only read.
 */
function checkedReads(src: WalkSource, kind: TrieKind): NodeStore {
  const readOnly = (): never => {
    throw new RootsyncError('READ_ONLY', 'a local path read does not write or list')
  }
  return {
    async getNode(hash) {
      const bytes = await src.getNode(hash)
      const refs = checkEntry(hash, bytes, kind)
      if (!Array.isArray(refs)) throw refs
      return bytes
    },
    hasNode: readOnly,
    hasNodes: readOnly,
    getMeta: readOnly,
    metaKeys: readOnly,
    getStaged: readOnly,
    stagedHashes: readOnly,
    write: readOnly,
  }
}

function randomKey(random: () => number): Uint8Array {
  const k = new Uint8Array(32)
  for (let i = 0; i < 32; i++) k[i] = Math.floor(random() * 256)
  return k
}

/** The address of a watched path (20 bytes), or null for a sampled one. */
export const addressOf = (p: SampledPath): Uint8Array | null =>
  p.path.address ? fromHex(p.path.address) : null
