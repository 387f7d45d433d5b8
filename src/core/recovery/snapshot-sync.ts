/**
 * Network snapshot, range-proven (issue 10 item 5): rebuild the state at the target's root from runs
 * of leaves that peers prove with edge proofs (`/rootsync/range/1`), instead of fetching it node by
 * node. Account ranges are read by hashed key from zero, each next range starting just past the last
 * proven key; the account trie is rebuilt with the stack builder (trie/root-builder.ts), and each
 * account's storage trie (ranges of that account) and code (by hash) alongside.
 *
 * The store invariant "stored node ⇒ complete subtree" (the node-by-node sync skips stored subtrees,
 * the walk relies on it) holds at every write, because:
 * - the stack builder emits a node only once every node below it has been emitted (earlier, or in the
 *   same write); storage-trie nodes have nothing below them but storage nodes, so they are written
 *   as soon as their chunk is proven;
 * - an account leaf goes into the account builder only once its storage trie and code are stored,
 *   so an account-trie node is written only when every account under it is complete;
 * - writes go through one queue, and once a write fails none after it is made.
 * A stored storage root (or code blob) is complete by that same invariant and is not fetched again.
 *
 * Progress (META.snapshotProgress) is saved in the same write as the nodes it describes, so a kill
 * loses at most the chunks in flight. Its format: keccak(body) ‖ body, body = RLP
 *   [1, targetRoot, nextOrigin, accountBuilder, [[accountKey, storageRoot, nextOrigin, builder]…]]
 * — the account builder's saved state and the key the next account range starts at, and for each
 * storage trie that spans several chunks and is not finished, the same. Progress for another root
 * (or damaged: its hash does not match, or it does not decode) is deleted before anything else is
 * written; the completing write deletes it; a root mismatch at the end deletes it too.
 * This strategy never writes the completion marker (META.stateRoot): the manager verifies and marks.
 *
 * Security considerations: every chunk is verified against the root it must rebuild before any of it
 * is used — the account trie's against the target's verified state root, a storage trie's against the
 * storage root in a proven account leaf, code against its hash (snapshot-fetch.ts); and the rebuilt
 * roots are compared again at the end of each trie before its root node is written. Ranges are
 * proven chained onto the trie's builder (range-proof.ts `proveChained`): the builder that checks a
 * range is the one whose nodes are stored, so each node is hashed once (the range proof used to
 * rebuild every range's trie a second time: 39–48 s against 29–38 s node by node at 100k accounts,
 * docs/benchmarks.md "Recovery"). Resumed progress that does not lead to the root is found at the
 * first range (`SnapshotStateMismatch`, no peer blamed) and dropped.
 */
import { type Account, decodeAccount, EMPTY_CODE_HASH, EMPTY_ROOT } from '../account.ts'
import { compare, concat, equals, toHex } from '../bytes.ts'
import { RlpError, RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { META } from '../meta-keys.ts'
import { keyAfter } from '../protocol/range.ts'
import { asBytes, asList, asSafeInt, type RlpItem, rlpDecode, rlpEncode } from '../rlp.ts'
import { throwIfStopped } from '../task.ts'
import { EMPTY_ROOT_HASH } from '../trie/constants.ts'
import { createRootBuilder, type RootBuilder, restoreRootBuilder } from '../trie/root-builder.ts'
import { createSnapshotSource, runAll, type SnapshotSource, type VerifiedRange } from './snapshot-fetch.ts'
import { NotApplicableError, type RecoveryStrategy, type StrategyContext } from './types.ts'

export interface SnapshotSyncOptions {
  /** Soft cap on the leaf bytes of one account range reply. */
  accountBytes: number
  /** Soft cap on the leaf bytes of one storage range reply. */
  storageBytes: number
  /** Code blobs asked in one request. */
  codeBatch: number
  /** Storage tries and code batches fetched at once. */
  parallel: number
  /** Timeouts or transport errors in a row after which a peer is not asked again. */
  maxFailures: number
}

export const DEFAULT_SNAPSHOT_OPTIONS: SnapshotSyncOptions = {
  accountBytes: 256 * 1024,
  storageBytes: 256 * 1024,
  codeBatch: 64,
  parallel: 4,
  maxFailures: 2,
}

const PROGRESS_VERSION = 1
const ZERO_KEY: Uint8Array = new Uint8Array(32)

/** An unfinished storage trie: where its next range starts and its builder's saved state. */
export interface StorageProgress {
  account: Uint8Array
  root: Uint8Array
  next: Uint8Array
  builder: Uint8Array
}

export interface SnapshotProgress {
  root: Uint8Array
  /** Where the next account range starts. */
  next: Uint8Array
  /** The account builder's saved state. */
  builder: Uint8Array
  /** Unfinished storage tries, by storage root (hex). */
  storage: Map<string, StorageProgress>
}

export function encodeSnapshotProgress(p: SnapshotProgress): Uint8Array {
  const body = rlpEncode([
    PROGRESS_VERSION,
    p.root,
    p.next,
    p.builder,
    [...p.storage.values()].map((s) => [s.account, s.root, s.next, s.builder]),
  ])
  return concat(keccak256(body), body)
}

/**
 * The saved progress, or null if it is damaged or undecodable (then it is discarded like another
 * root's). The record carries its own hash: a builder state altered on disk would otherwise rebuild
 * a different trie, whose nodes nothing references but which would waste the whole run.
 */
export function decodeSnapshotProgress(bytes: Uint8Array): SnapshotProgress | null {
  try {
    const body = bytes.subarray(32)
    if (bytes.length < 32 || !equals(keccak256(body), bytes.subarray(0, 32))) return null
    const [v, root, next, builder, st] = asList(rlpDecode(body), 'snapshot progress', 5)
    if (asSafeInt(v, 'version') !== PROGRESS_VERSION) return null
    const field = (x: RlpItem | undefined, length?: number) => {
      const b = asBytes(x, 'snapshot progress field').slice()
      if (length !== undefined && b.length !== length) throw new RlpError('snapshot progress: bad key length')
      return b
    }
    const storage = new Map<string, StorageProgress>()
    for (const item of asList(st, 'storage progress')) {
      const [a, r, n, b] = asList(item, 'storage trie progress', 4)
      const s = { account: field(a, 32), root: field(r, 32), next: field(n, 32), builder: field(b) }
      storage.set(toHex(s.root), s)
    }
    return { root: field(root, 32), next: field(next, 32), builder: field(builder), storage }
  } catch {
    return null
  }
}

export const networkSnapshotStrategy: RecoveryStrategy = {
  name: 'snapshot',
  run: (ctx) => snapshotSync(ctx),
}

/**
 * Rebuilds the state at `ctx.target`'s root from range-proven chunks (see the module comment).
 * Throws `NotApplicableError` NO_RANGE_PEERS before changing anything when no peer speaks the range
 * protocol; `SNAPSHOT_NO_PEERS` when every peer failed a request (the verified part stays, with its
 * progress, for the next attempt); the signal's reason when stopped.
 */
export async function snapshotSync(
  ctx: StrategyContext,
  options: Partial<SnapshotSyncOptions> = {},
): Promise<void> {
  const o = { ...DEFAULT_SNAPSHOT_OPTIONS, ...options }
  const peers = ctx.peers().filter((p) => p.wire.range)
  if (!peers.length)
    throw new NotApplicableError('NO_RANGE_PEERS', 'no peer offers the range protocol (/rootsync/range/1)')
  const { store, signal } = ctx
  const root = ctx.target.header.stateRoot
  throwIfStopped(signal, 'snapshot sync')

  const raw = await store.getMeta(META.snapshotProgress)
  let saved = raw ? decodeSnapshotProgress(raw) : null
  if (saved && !equals(saved.root, root)) saved = null
  // Complete already (a stored root is a complete state), or nothing to fetch: only drop the progress.
  if (equals(root, EMPTY_ROOT_HASH) || (await store.hasNode(root))) {
    if (raw) await store.write({ meta: [[META.snapshotProgress, null]] })
    return
  }
  if (raw && !saved) await store.write({ meta: [[META.snapshotProgress, null]] })

  // The account builder holds every account before `origin`; each range is proven chained onto a
  // fork of it (snapshot-fetch.ts), which replaces it once the range's accounts are complete.
  let accounts: RootBuilder
  let origin = ZERO_KEY
  const storage = new Map<string, StorageProgress>()
  if (saved) {
    try {
      accounts = restoreRootBuilder(saved.builder)
      origin = saved.next
      for (const [k, v] of saved.storage) storage.set(k, v)
    } catch {
      accounts = createRootBuilder()
    }
  } else accounts = createRootBuilder()

  // One write queue: records are encoded when a write is queued, so each describes only nodes in
  // writes at or before it; after a failed write nothing more is written.
  let queue: Promise<void> = Promise.resolve()
  let broken: unknown = null
  const run: Run = {
    ctx,
    options: o,
    root,
    storage,
    source: createSnapshotSource({
      clock: ctx.clock,
      peers,
      timeoutMs: ctx.options.requestTimeoutMs,
      maxFailures: o.maxFailures,
      charge: ctx.charge,
      onBytes: (n) => void (ctx.counters.bytes += n),
    }),
    write(nodes, progress) {
      const record =
        progress === 'save'
          ? encodeSnapshotProgress({ root, next: origin, builder: accounts.save(), storage })
          : progress === 'clear'
            ? null
            : undefined
      const w = queue.then(async () => {
        if (broken) throw broken
        throwIfStopped(signal, 'snapshot sync')
        await store.write({ nodes, meta: record === undefined ? [] : [[META.snapshotProgress, record]] })
        ctx.counters.nodes += nodes.length
      })
      queue = w.catch((e) => {
        broken ??= e
      })
      return w
    },
  }

  // The next account range is asked as soon as the previous one is proven (one request ahead).
  const ahead = new AbortController()
  const stopAhead = () => ahead.abort(signal.reason)
  signal.addEventListener('abort', stopAhead, { once: true })
  const fetchAccounts = (from: Uint8Array, chain: RootBuilder) => {
    const p = run.source.range(
      { stateRoot: root, trieRoot: root, origin: from, maxBytes: o.accountBytes, chain },
      ahead.signal,
    )
    p.catch(() => {})
    return p
  }
  throwIfStopped(signal, 'snapshot sync')
  let next = fetchAccounts(origin, accounts)
  try {
    for (;;) {
      const chunk = await next
      throwIfStopped(signal, 'snapshot sync')
      ctx.progress('accounts')
      const built = chunk.built!
      const last = chunk.keys.at(-1)
      const after = chunk.hasMore && last ? keyAfter(last) : null
      if (after) next = fetchAccounts(after, built.builder)
      // Its account-trie nodes wait (in `built.nodes`) until every account's storage and code is stored.
      await completeAccounts(run, chunk)
      accounts = built.builder
      if (!after) {
        const got = accounts.finish()
        if (compare(got, root) !== 0)
          throw new RootsyncError(
            'SNAPSHOT_ROOT_MISMATCH',
            `proven account ranges rebuilt ${toHex(got)}, not the target root ${toHex(root)}`,
          )
        await run.write(built.nodes.splice(0), 'clear')
        return
      }
      origin = after
      await run.write(built.nodes.splice(0), 'save')
    }
  } catch (e) {
    // Proven chunks that do not rebuild their root mean the resumed state was not what it claimed:
    // the progress goes, so the next attempt starts over instead of failing the same way.
    if (e instanceof RootsyncError && e.code === 'SNAPSHOT_ROOT_MISMATCH') {
      await queue
      await store.write({ meta: [[META.snapshotProgress, null]] })
    }
    throw e
  } finally {
    signal.removeEventListener('abort', stopAhead)
    ahead.abort(signal.reason)
    await next.catch(() => {})
    await queue
  }
}

/** What the account loop shares with the storage and code jobs of a chunk. */
interface Run {
  ctx: StrategyContext
  options: SnapshotSyncOptions
  root: Uint8Array
  /** Unfinished storage tries (saved with every progress record). */
  storage: Map<string, StorageProgress>
  source: SnapshotSource
  /** Queues a write of `nodes`, with the progress record saved, deleted, or left as it is. */
  write(nodes: [Uint8Array, Uint8Array][], progress: 'save' | 'clear' | 'none'): Promise<void>
}

/** Stores the storage tries and code of a proven chunk's accounts (what is not stored already). */
async function completeAccounts(run: Run, chunk: VerifiedRange): Promise<void> {
  const { store, signal } = run.ctx
  const tries = new Map<string, { account: Uint8Array; root: Uint8Array }>()
  const codes = new Map<string, Uint8Array>()
  for (let i = 0; i < chunk.keys.length; i++) {
    let a: Account
    try {
      a = decodeAccount(chunk.values[i]!)
    } catch (e) {
      // Proven against the verified root: the state itself holds it, no peer is to blame.
      throw new RootsyncError(
        'SNAPSHOT_BAD_ACCOUNT',
        `proven leaf ${toHex(chunk.keys[i]!)} is not an account: ${(e as Error).message}`,
      )
    }
    const r = toHex(a.storageRoot)
    if (!equals(a.storageRoot, EMPTY_ROOT) && !tries.has(r))
      tries.set(r, { account: chunk.keys[i]!, root: a.storageRoot })
    if (!equals(a.codeHash, EMPTY_CODE_HASH)) codes.set(toHex(a.codeHash), a.codeHash)
  }
  const wanted = [...tries.values()]
  const haveTrie = await store.hasNodes(wanted.map((t) => t.root))
  const hashes = [...codes.values()]
  const haveCode = await store.hasNodes(hashes)
  const jobs: ((s: AbortSignal) => Promise<void>)[] = []
  wanted.forEach((t, i) => {
    // A stored storage root is a complete trie (the store's invariant): nothing to fetch.
    if (haveTrie[i]) run.storage.delete(toHex(t.root))
    else jobs.push((s) => buildStorage(run, t.account, t.root, s))
  })
  const missing = hashes.filter((_, i) => !haveCode[i])
  for (let i = 0; i < missing.length; i += run.options.codeBatch) {
    const batch = missing.slice(i, i + run.options.codeBatch)
    jobs.push(async (s) => {
      const blobs = await run.source.code(batch, s)
      run.ctx.progress('code')
      await run.write(
        batch.map((h, j) => [h, blobs[j]!]),
        'none',
      )
    })
  }
  await runAll(jobs, run.options.parallel, signal)
}

/** Fetches, proves and stores one storage trie, resuming from its saved progress if there is one. */
async function buildStorage(
  run: Run,
  account: Uint8Array,
  root: Uint8Array,
  signal: AbortSignal,
): Promise<void> {
  const key = toHex(root)
  const saved = run.storage.get(key)
  let builder: RootBuilder | null = null
  let origin = ZERO_KEY
  if (saved) {
    try {
      builder = restoreRootBuilder(saved.builder)
      origin = saved.next
    } catch {
      run.storage.delete(key)
    }
  }
  builder ??= createRootBuilder()
  for (;;) {
    const r = await run.source.range(
      {
        stateRoot: run.root,
        account,
        trieRoot: root,
        origin,
        maxBytes: run.options.storageBytes,
        chain: builder,
      },
      signal,
    )
    throwIfStopped(signal, 'snapshot sync')
    run.ctx.progress('storage')
    const emitted = r.built!.nodes
    builder = r.built!.builder
    const last = r.keys.at(-1)
    const after = r.hasMore && last ? keyAfter(last) : null
    if (!after) {
      const got = builder.finish()
      if (!equals(got, root))
        throw new RootsyncError(
          'SNAPSHOT_ROOT_MISMATCH',
          `proven storage ranges rebuilt ${toHex(got)}, not the storage root ${key}`,
        )
      const wasSaved = run.storage.delete(key)
      await run.write(emitted.splice(0), wasSaved ? 'save' : 'none')
      return
    }
    // A trie spanning several chunks: its nodes so far are complete subtrees, stored with its progress.
    origin = after
    run.storage.set(key, { account, root, next: after, builder: builder.save() })
    await run.write(emitted.splice(0), 'save')
  }
}
