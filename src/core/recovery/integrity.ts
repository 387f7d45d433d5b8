/**
 * Finding damage in a stored state (seed §7.2, issue item 6): which entries under a root are missing,
 * corrupt (stored bytes that do not hash to their key) or undecodable, and where each one sits — so
 * a person can see what is wrong (`rootsync verify`) and a repair can remove exactly the damaged
 * paths (peer-repair.ts). Two depths:
 * - `findDamage`: the full walk — the one reachability walk (trie/reachable.ts) in its reporting mode,
 *   which goes on past damage and skips only the subtree under each damaged entry;
 * - `sampleCheck`: N random paths, uniform over the hashed key space, each from the root down to
 *   where its key's path ends; at an account leaf on into its storage trie (a second random key) and
 *   its code. Cheap enough to run at every start-up; it finds damage in proportion to the share of
 *   the key space the damage covers (a missing node near the root is found at once, one leaf rarely).
 * Both only read: they are a dry run by construction; deciding what to do is the caller's job.
 *
 * Security considerations: the store is untrusted, so every entry is re-hashed against the hash that
 * led to it before anything in it is followed; a path or ancestor list names only verified nodes
 * (the ancestors) and the hash their parent committed to (the damaged entry). The random source only
 * chooses which paths are looked at, never what is accepted.
 */
import { accountRefs } from '../account.ts'
import { concat, equals, toHex } from '../bytes.ts'
import { verifyStoredState } from '../sync/verify.ts'
import { throwIfStopped } from '../task.ts'
import { bytesToNibbles, type Nibbles } from '../trie/nibbles.ts'
import { decodeNode, type RefKind, type TrieKind, type TrieNode } from '../trie/node.ts'
import {
  checkEntry,
  type IntegrityProblem,
  StateIntegrityError,
  type WalkPosition,
  type WalkSource,
} from '../trie/reachable.ts'
import { isEmptyRoot } from '../trie/trie.ts'

/** One damaged entry and where it sits. */
export interface DamageRecord {
  problem: IntegrityProblem
  /** The hash its parent commits to (hex). */
  hash: string
  /** Account-trie node, storage-trie node, or code blob. */
  kind: RefKind
  /** Its nibble path within its own trie, as hex digits ('' for a trie's root and for code). */
  path: string
  /** For a storage node or code: the hashed account key (hex) whose storage trie or code it is. */
  account: string | null
  /** Hashes from the state root down to its parent: the account-trie path, then the storage-trie path. */
  ancestors: string[]
  /** Why (the decoder's message for an undecodable node). */
  detail: string
}

export interface DamageReport {
  root: string
  mode: 'full' | 'sampled'
  /** Trie nodes that verified. */
  nodes: number
  /** Code blobs that verified. */
  code: number
  bytes: number
  /** Accounts reached. */
  accounts: number
  damage: DamageRecord[]
  /** Damaged entries found beyond `limit` (counted, not listed). */
  omitted: number
}

export type SampleReport = DamageReport & { paths: number }

/** Damage records kept by default; beyond that they are only counted (a wiped store has millions). */
export const DEFAULT_DAMAGE_LIMIT = 10_000

export interface FindDamageOptions {
  signal?: AbortSignal
  /** Most damage records listed (default `DEFAULT_DAMAGE_LIMIT`); the rest are counted in `omitted`. */
  limit?: number
  onProgress?: (r: { nodes: number; code: number; bytes: number; accounts: number; damaged: number }) => void
}

export interface SampleOptions {
  /** Random paths to descend. */
  paths: number
  /** Uniform in [0, 1): tests inject a seeded one. */
  random?: () => number
  signal?: AbortSignal
}

/**
 * Throws the first damaged entry of `r` as a `StateIntegrityError` (code STATE_MISSING / _CORRUPT /
 * _UNDECODABLE, naming its hash and path, and how many more were found); returns if `r` is clean.
 */
export function assertClean(r: DamageReport): void {
  const first = r.damage[0]
  if (!first) return
  const more = r.damage.length - 1 + r.omitted
  throw new StateIntegrityError(
    first.hash,
    first.problem,
    `${first.kind} node at path '${first.path}'${first.account ? ` of account ${first.account}` : ''}${more ? ` (and ${more} more damaged)` : ''}${first.detail ? `: ${first.detail}` : ''}`,
  )
}

/** A stored state is clean when nothing was found damaged. */
export const isClean = (r: DamageReport): boolean => r.damage.length === 0 && r.omitted === 0

/** The full walk: every damaged entry under `root`, each with its path and ancestors. */
export async function findDamage(
  store: WalkSource,
  root: Uint8Array,
  opts: FindDamageOptions = {},
): Promise<DamageReport> {
  const limit = opts.limit ?? DEFAULT_DAMAGE_LIMIT
  const damage: DamageRecord[] = []
  let omitted = 0
  const t = await verifyStoredState(store, root, {
    signal: opts.signal,
    onProgress: (r) => opts.onProgress?.({ ...r, damaged: damage.length + omitted }),
    onDamage: (e, at) => {
      if (damage.length < limit) damage.push(locate(e, at))
      else omitted++
    },
  })
  return { root: toHex(root), mode: 'full', ...t, damage, omitted }
}

/** `paths` random paths from the root, into storage tries and code where they end at an account. */
export async function sampleCheck(
  store: WalkSource,
  root: Uint8Array,
  opts: SampleOptions,
): Promise<SampleReport> {
  const random = opts.random ?? Math.random
  const report: SampleReport = {
    root: toHex(root),
    mode: 'sampled',
    nodes: 0,
    code: 0,
    bytes: 0,
    accounts: 0,
    damage: [],
    omitted: 0,
    paths: 0,
  }
  // Entries already checked on an earlier path: their steps, or null if damaged (reported once).
  const checked = new Map<string, Refs | null>()
  const accounts = new Set<string>()
  const randomKey = (): Nibbles => {
    const k = new Uint8Array(32)
    for (let i = 0; i < 32; i++) k[i] = Math.floor(random() * 256)
    return bytesToNibbles(k)
  }

  const visit = async (hash: Uint8Array, kind: RefKind, where: Where): Promise<Refs | null> => {
    const id = `${kind}:${toHex(hash)}`
    const seen = checked.get(id)
    if (seen !== undefined) return seen
    if (opts.signal) throwIfStopped(opts.signal, 'sampled check')
    const bytes = await store.getNode(hash)
    const refs = checkEntry(hash, bytes, kind)
    let steps: Refs | null = null
    if (Array.isArray(refs)) {
      report.bytes += bytes!.length
      if (kind === 'code') report.code++
      else report.nodes++
      steps = kind === 'code' ? NO_REFS : refSteps(bytes!, kind)
    } else {
      report.damage.push({
        problem: refs.problem,
        hash: refs.hash,
        kind,
        path: nibbleHex(where.path),
        account: where.account,
        ancestors: where.ancestors,
        detail: detailOf(refs),
      })
    }
    checked.set(id, steps)
    return steps
  }

  /**
   * Down one trie toward `key` to a leaf: the key's own branch where the node has one, else the
   * nearest child (so every path ends at a leaf — an account, or a storage slot — while each subtree
   * is still reached about in proportion to the share of the key space it covers); at an account,
   * on into its storage trie (a second random key) and its code.
   */
  const descend = async (
    top: Uint8Array,
    kind: TrieKind,
    key: Nibbles,
    above: string[],
    account: string | null,
  ): Promise<void> => {
    const ancestors = [...above]
    let hash = top
    let path: Nibbles = new Uint8Array(0)
    for (;;) {
      const refs = await visit(hash, kind, { path, account, ancestors: [...ancestors] })
      if (!refs) return
      ancestors.push(toHex(hash))
      const next = toward(refs.steps, kind, key, path.length)
      if (next) {
        path = concat(path, next.nibbles)
        hash = next.hash
        continue
      }
      if (kind !== 'state' || refs.account === null) return
      const owner = `0x${nibbleHex(concat(path, refs.account))}`
      accounts.add(owner)
      for (const s of refs.steps) {
        if (s.kind === 'storage') await descend(s.hash, 'storage', randomKey(), ancestors, owner)
        else if (s.kind === 'code')
          await visit(s.hash, 'code', { path: new Uint8Array(0), account: owner, ancestors: [...ancestors] })
      }
      return
    }
  }

  if (!isEmptyRoot(root))
    for (let i = 0; i < opts.paths; i++) {
      await descend(root, 'state', randomKey(), [], null)
      report.paths++
    }
  report.accounts = accounts.size
  return report
}

export type CheckOptions = FindDamageOptions & Partial<SampleOptions>

/** The check a caller configured: a sampled one (`opts.paths`, default 64) or the full walk. */
export function checkState(
  store: WalkSource,
  root: Uint8Array,
  mode: 'sampled' | 'full',
  opts: CheckOptions = {},
): Promise<DamageReport> {
  return mode === 'full'
    ? findDamage(store, root, opts)
    : sampleCheck(store, root, { ...opts, paths: opts.paths ?? 64 })
}

// ---- where an entry sits -----------------------------------------------------------------------

interface Where {
  path: Nibbles
  account: string | null
  ancestors: string[]
}

/** A reference of a node with the nibbles that lead to it (a leaf's full remaining path for its account's refs). */
interface Step {
  hash: Uint8Array
  kind: RefKind
  nibbles: Nibbles
}

interface Refs {
  steps: Step[]
  /** Account trie: the nibbles from this node to the account it holds (a leaf), if it holds one. */
  account: Nibbles | null
}

const NO_REFS: Refs = { steps: [], account: null }

/**
 * A node's references in `childRefsOf` order (the walk's `slot` indexes them), each with the nibbles
 * from this node to it. Only for diagnosis and sampled descents: the walk itself never needs paths.
 */
function refSteps(bytes: Uint8Array, trie: TrieKind): Refs {
  const out: Step[] = []
  let account: Nibbles | null = null
  const accountAt = (value: Uint8Array, nibbles: Nibbles) => {
    if (trie !== 'state') return
    account = nibbles
    for (const r of accountRefs(value)) out.push({ ...r, nibbles })
  }
  const visit = (n: TrieNode, at: Nibbles, top: boolean): void => {
    if (n.kind === 'hash') {
      if (!top) out.push({ hash: n.hash, kind: trie, nibbles: at })
    } else if (n.kind === 'leaf') accountAt(n.value, concat(at, n.path))
    else if (n.kind === 'extension') visit(n.child, concat(at, n.path), false)
    else {
      n.children.forEach((c, i) => {
        if (c) visit(c, concat(at, Uint8Array.of(i)), false)
      })
      if (n.value) accountAt(n.value, at)
    }
  }
  visit(decodeNode(bytes), new Uint8Array(0), true)
  return { steps: out, account }
}

/** A damaged entry the walk reported, with its path and ancestors read off the verified frames above it. */
function locate(e: StateIntegrityError, at: WalkPosition): DamageRecord {
  const chain: { bytes: Uint8Array; kind: RefKind; hash: Uint8Array; slot: number; child: string }[] = []
  let child = e.hash
  for (let p = at; p.parent; p = p.parent.at) {
    chain.push({ ...p.parent, slot: p.slot, child })
    child = toHex(p.parent.hash)
  }
  chain.reverse()
  let path: Nibbles = new Uint8Array(0)
  let account: string | null = null
  for (const f of chain) {
    const { steps } = refSteps(f.bytes, f.kind as TrieKind)
    // The slot indexes `childRefsOf`'s order, which `refSteps` follows; the hash check is a guard.
    const step =
      steps[f.slot] && toHex(steps[f.slot]!.hash) === f.child
        ? steps[f.slot]!
        : steps.find((s) => toHex(s.hash) === f.child)
    if (!step) break
    if (step.kind === f.kind) path = concat(path, step.nibbles)
    else {
      account = `0x${nibbleHex(concat(path, step.nibbles))}`
      path = new Uint8Array(0)
    }
  }
  return {
    problem: e.problem,
    hash: e.hash,
    kind: at.kind,
    path: nibbleHex(path),
    account,
    ancestors: chain.map((f) => toHex(f.hash)),
    detail: detailOf(e),
  }
}

const detailOf = (e: StateIntegrityError): string =>
  e.problem === 'missing' ? 'not in the store' : e.message.slice(e.message.indexOf(': ') + 2)

const nibbleHex = (n: Nibbles): string => Array.from(n, (x) => x.toString(16)).join('')

/** The child of this trie to descend to: the one on `key`'s path, else the nearest by first nibble. */
function toward(steps: Step[], kind: TrieKind, key: Nibbles, depth: number): Step | undefined {
  const want = key[depth] ?? 0
  let best: Step | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const s of steps) {
    if (s.kind !== kind) continue
    if (equals(key.subarray(depth, depth + s.nibbles.length), s.nibbles)) return s
    // Ties go to the higher nibble: the key's successor.
    const d = Math.abs((s.nibbles[0] ?? 0) - want) - ((s.nibbles[0] ?? 0) > want ? 0.5 : 0)
    if (d < bestDistance) {
      best = s
      bestDistance = d
    }
  }
  return best
}
