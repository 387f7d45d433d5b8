/**
 * The sync's trie walk: from each verified node to the hashes it names, and back up once a subtree
 * is complete. Every wanted hash is an `Entry`; a node names its children (one linking loop, fed
 * either by the fast reference scan — offsets into the node's bytes, no copies — or, for any other
 * shape, by the full decoders through `childRefs`, branch values included). Each child is already
 * wanted (one more parent), already stored (its subtree skipped), staged by an earlier run (adopted)
 * or new (queued in the frontier). A node whose children are all stored is handed to the writer, and
 * completing it may complete its parents in turn.
 *
 * Security considerations: the walk only ever sees verified bytes (keccak equal to a hash named by
 * the trusted root or a node verified under it). A node that verifies but does not decode means the
 * root commits to invalid state: `fatal` becomes an `InvalidStateError` rather than a guess. Staged
 * copies from an earlier run are re-hashed before they are adopted.
 */
import { accountRefs } from '../account.ts'
import { equals, toHex } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { childRefs, decodeNode } from '../trie/node.ts'
import { Entry, keyAt, keyOf } from './entry.ts'
import { InvalidStateError } from './errors.ts'
import { Frontier, type Want } from './frontier.ts'
import { childRefsOf, newRefScan, type RefScan, scanRefs } from './node-refs.ts'
import { type ProgressMeter, pow16 } from './progress.ts'
import type { SyncWriter } from './writer.ts'

export class TrieWalk {
  /**
   * Wanted nodes by key, and nodes written since the last flush (`done`: a child met again is
   * skipped, not downloaded twice); those leave at the flush (`flushed`).
   */
  readonly entries = new Map<string, Entry>()
  readonly frontier = new Frontier<Entry>()
  rootDone = false
  fatal: Error | null = null
  private readonly refScan = newRefScan()
  private readonly completing: Entry[] = []
  private readonly staged: Set<string>

  constructor(
    private readonly store: NodeStore,
    private readonly writer: SyncWriter,
    private readonly meter: ProgressMeter,
    private readonly checkPresence: boolean,
  ) {
    this.staged = writer.stagedKeys
  }

  /** The target root, received and verified (the probe's answer). */
  async start(root: Uint8Array, bytes: Uint8Array): Promise<void> {
    const e = this.newEntry(root, keyOf(root), 'state', 0, null)
    e.bytes = bytes
    await this.accept([e])
  }

  /** Verified nodes (or code), each with `bytes` set: link them into the walk. */
  accept(list: Entry[]): Promise<void> {
    return this.acceptMany(list, false)
  }

  /** The entries of a flushed batch leave memory. */
  flushed(done: Entry[]): void {
    for (const e of done) this.entries.delete(e.key)
  }

  /** Up to `n` entries still wanted (for error reports). */
  wanted(n: number): Entry[] {
    const out: Entry[] = []
    for (const e of this.entries.values()) {
      if (out.length >= n) break
      if (!e.done && !e.bytes) out.push(e)
    }
    return out
  }

  private newEntry(hash: Uint8Array, key: string, kind: Want['kind'], depth: number, parent: Entry | null) {
    const e = new Entry(hash, key, kind, depth, parent)
    this.entries.set(key, e)
    return e
  }

  /**
   * Finds which children of `list` are still needed and completes each node whose children are all
   * stored. On a store that may hold some of them already, one presence query for all the children
   * of the batch comes first.
   */
  private async acceptMany(list: Entry[], fromStaging: boolean): Promise<void> {
    let present: Set<string> | null = null
    if (this.checkPresence) {
      present = await this.presentChildren(list)
      if (!present) return
    }
    let adopt: Entry[] | null = null
    for (const e of list) {
      if (e.kind !== 'code') {
        const a = this.expand(e, present)
        if (a === false) return
        if (a) adopt = adopt ? adopt.concat(a) : a
      }
      if (e.missing === 0) this.complete(e)
      else if (!fromStaging) this.writer.waiting(e)
    }
    if (this.frontier.size > this.meter.maxFrontier) this.meter.maxFrontier = this.frontier.size
    if (!adopt) return
    // Children received before a restart and kept aside: adopt them instead of downloading.
    const again: Entry[] = []
    for (const ce of adopt) {
      const staged = await this.store.getStaged(ce.hash)
      if (staged && equals(keccak256(staged), ce.hash)) {
        this.meter.skipped++
        ce.bytes = staged
        again.push(ce)
      } else {
        this.writer.forgetStaged(ce) // missing or corrupt aside-copy: download the node
        ce.queued = true
        this.frontier.push(ce)
      }
    }
    if (again.length) await this.acceptMany(again, true)
  }

  /**
   * Links `e` to its children; returns those staged by an earlier run (to adopt), or false after an
   * undecodable node (the sync's fatal error).
   */
  private expand(e: Entry, present: Set<string> | null): Entry[] | null | false {
    let src = e.bytes!
    let r = this.refScan
    if (!scanRefs(src, e.kind === 'storage' ? 'storage' : 'state', r)) {
      const fb = this.decodedRefs(e)
      if (!fb) return false
      ;[src, r] = fb
    }
    let adopt: Entry[] | null = null
    const staged = this.staged
    for (let i = 0; i < r.n; i++) {
      const off = r.off[i]!
      const key = keyAt(src, off)
      const known = this.entries.get(key)
      const kind = r.kind[i]!
      const depth = e.depth + r.depthDelta[i]!
      if (known !== undefined && !known.done) {
        // Already wanted: `e` waits for it too.
        if (known.parent === null) known.parent = e
        else (known.parents ??= []).push(e)
        e.missing++
        continue
      }
      if (known !== undefined || present?.has(key)) {
        // Written since the last flush, or already in the store: its subtree is complete.
        this.meter.skip(kind === 'state' ? pow16(depth) : 0)
        continue
      }
      // A view, not a copy: `e` (and its bytes) stays until this child is stored; stores copy keys.
      const ce = this.newEntry(src.subarray(off, off + 32), key, kind, depth, e)
      e.missing++
      if (staged.size && staged.has(key)) (adopt ??= []).push(ce)
      else {
        ce.queued = true
        this.frontier.push(ce)
      }
    }
    if (r.closed) {
      const c = pow16(e.depth + r.closedDelta)
      for (let i = 0; i < r.closed; i++) this.meter.coverage += c
    }
    return adopt
  }

  /**
   * The shapes the fast scan leaves out (inline children, branch values) or rejects: references from
   * the full decoders, laid out like a scan over a buffer of their hashes. False (and `fatal` set)
   * when the node does not decode.
   */
  private decodedRefs(e: Entry): [Uint8Array, RefScan] | false {
    const trie = e.kind === 'storage' ? 'storage' : 'state'
    try {
      const node = decodeNode(e.bytes!)
      const refs = childRefs(node, trie, accountRefs)
      const buf = new Uint8Array(refs.length * 32)
      const r = newRefScan(Math.max(refs.length, 1))
      // Children of a branch sit one nibble deeper, of an extension its path deeper; an account
      // (a leaf, or a branch value) points one level below itself.
      const delta = node.kind === 'extension' ? node.path.length : 1
      for (let i = 0; i < refs.length; i++) {
        buf.set(refs[i]!.hash, i * 32)
        r.off[i] = i * 32
        r.kind[i] = refs[i]!.kind
        r.depthDelta[i] = delta
      }
      r.n = refs.length
      if (trie === 'state') {
        // Account key space this node closes: a leaf, or a branch's or extension's slots that hold
        // no hash (empty or inline).
        if (node.kind === 'leaf') r.closed = 1
        else if (node.kind === 'extension') {
          r.closed = node.child.kind === 'hash' ? 0 : 1
          r.closedDelta = delta
        } else {
          r.closed = node.children.filter((c) => c?.kind !== 'hash').length
          r.closedDelta = 1
        }
      }
      return [buf, r]
    } catch (err) {
      this.fatal = new InvalidStateError(toHex(e.hash), (err as Error).message)
      return false
    }
  }

  /**
   * Keys of the children of `list` that the store already holds (one presence query), or null after
   * an undecodable node (the sync's fatal error).
   */
  private async presentChildren(list: Entry[]): Promise<Set<string> | null> {
    const ask: Uint8Array[] = []
    const keys: string[] = []
    for (const e of list) {
      if (e.kind === 'code') continue
      let refs: ReturnType<typeof childRefsOf>
      try {
        refs = childRefsOf(e.bytes!, e.kind)
      } catch (err) {
        this.fatal = new InvalidStateError(toHex(e.hash), (err as Error).message)
        return null
      }
      for (const c of refs) {
        const key = keyOf(c.hash)
        if (this.entries.has(key)) continue
        ask.push(c.hash)
        keys.push(key)
      }
    }
    const present = new Set<string>()
    if (!ask.length) return present
    const answers = await this.store.hasNodes(ask)
    for (let i = 0; i < ask.length; i++) if (answers[i]) present.add(keys[i]!)
    return present
  }

  /** `first` and its subtree are stored: write it, and complete every parent only waiting for it. */
  private complete(first: Entry): void {
    const stack = this.completing
    stack.push(first)
    while (stack.length) {
      const e = stack.pop()!
      e.done = true
      this.writer.written(e)
      if (e.depth === 0 && e.kind === 'state') this.rootDone = true
      e.bytes = undefined
      const p = e.parent
      if (p !== null) {
        if (--p.missing === 0) stack.push(p)
        e.parent = null
      }
      const ps = e.parents
      if (ps !== null) {
        for (const q of ps) if (--q.missing === 0) stack.push(q)
        e.parents = null
      }
    }
  }
}
