/**
 * The sync's writer: everything the walk decides to persist, gathered into atomic batches.
 *
 * - Children before parents: the walk hands a node over (`written`) only once all its children are
 *   stored, so "node present" always means "whole subtree present" — a crash never leaves a partial
 *   trie that looks complete.
 * - Nodes still waiting for children at a flush are kept aside in the store (staged), in the same
 *   batch, so after a restart nothing verified and persisted is downloaded again; the walk adopts
 *   them (`stagedKeys`) when it meets their hashes. A staged node that completes is unstaged in the
 *   batch that writes it.
 * - The target root's own write carries the `state/root` record in the same batch: that record is
 *   what marks the state complete.
 *
 * Security considerations: only verified bytes (keccak equal to the key) ever reach the writer; a
 * flush is one atomic batch, so what is stored is consistent at every instant, including after a
 * stop or a crash.
 */
import { rlpEncode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'
import { type Entry, keyOf } from './entry.ts'
import { STATE_ROOT_KEY } from './root-record.ts'

export class SyncWriter {
  /** Keys of nodes kept aside in the store (flushed). */
  readonly stagedKeys = new Set<string>()
  /** Nodes written since the last flush: they leave the walk's map once the batch is stored. */
  private doneSinceFlush: Entry[] = []
  /** Nodes waiting for children since the last flush; `toStageCount` of them still are. */
  private toStage: Entry[] = []
  private toStageCount = 0
  private nodes: [Uint8Array, Uint8Array][] = []
  private meta = new Map<string, Uint8Array | null>()
  /** Staging changes since the last flush: bytes to stage, or null to unstage. */
  private stage = new Map<string, [Uint8Array, Uint8Array | null]>()

  constructor(
    private readonly store: NodeStore,
    private readonly root: Uint8Array,
    private readonly height: number,
  ) {}

  /** Reads which nodes an earlier run left aside. */
  async loadStaged(): Promise<void> {
    for await (const h of this.store.stagedHashes()) this.stagedKeys.add(keyOf(h))
  }

  /** The target is already complete (or empty): just record it. */
  async recordRoot(): Promise<void> {
    await this.store.write({ meta: [[STATE_ROOT_KEY, this.rootRecord()]] })
  }

  /** `e` and its whole subtree are stored: write it (the target root with its record). */
  written(e: Entry): void {
    this.doneSinceFlush.push(e)
    this.nodes.push([e.hash, e.bytes!])
    // Waiting since the last flush: never staged, so nothing to unstage.
    if (e.staging) {
      e.staging = false
      this.toStageCount--
    } else if (this.stagedKeys.size && this.stagedKeys.delete(e.key)) this.stage.set(e.key, [e.hash, null])
    if (e.depth === 0 && e.kind === 'state') this.meta.set(STATE_ROOT_KEY, this.rootRecord())
  }

  /** `e` waits for children: staged at the next flush unless it completes first. */
  waiting(e: Entry): void {
    e.staging = true
    this.toStage.push(e)
    this.toStageCount++
  }

  /** A staged copy that is missing or corrupt: forget it (the node is downloaded instead). */
  forgetStaged(e: Entry): void {
    this.stagedKeys.delete(e.key)
    this.stage.set(e.key, [e.hash, null])
  }

  /** Operations waiting for the next flush. */
  pending(): number {
    return this.nodes.length + this.meta.size + this.stage.size + this.toStageCount
  }

  /** Writes everything pending in one atomic batch; returns the entries it wrote. */
  async flush(): Promise<Entry[]> {
    // Nodes still waiting for children go aside now; most nodes that waited since the last flush
    // have completed meanwhile (deepest first) and are never written twice.
    for (const e of this.toStage) {
      if (!e.staging) continue
      e.staging = false
      this.stage.set(e.key, [e.hash, e.bytes!])
      this.stagedKeys.add(e.key)
    }
    this.toStage = []
    this.toStageCount = 0
    if (!this.pending()) return []
    const { nodes, meta } = this
    const done = this.doneSinceFlush
    const staging = [...this.stage.values()]
    this.doneSinceFlush = []
    this.nodes = []
    this.meta = new Map()
    this.stage = new Map()
    await this.store.write({
      nodes,
      meta,
      stage: staging.filter((x): x is [Uint8Array, Uint8Array] => x[1] !== null),
      unstage: staging.filter(([, v]) => v === null).map(([h]) => h),
    })
    return done
  }

  /**
   * After the target completed: whatever is still staged belongs to an older target and will never
   * be adopted — unstage it.
   */
  async dropStale(): Promise<void> {
    if (!this.stagedKeys.size) return
    for await (const h of this.store.stagedHashes()) this.stage.set(keyOf(h), [h, null])
    this.stagedKeys.clear()
    await this.flush()
  }

  private rootRecord(): Uint8Array {
    return rlpEncode([this.root, this.height])
  }
}
