/**
 * bench:idb's worker (bundled by bench/idb.bench.ts from the tree under test, so a BENCH_BASE tree
 * runs its own store): writes a stream of nodes into a fresh `IdbNodeStore` the way the sync does —
 * batches of `batch` operations, about `stageFraction` of each batch's new nodes staged (waiting for
 * children) and written as nodes in the next batch with their unstaging (the store promotes them in
 * place) — and posts one message per `slice` nodes written so the growth of the write cost shows.
 *
 * Node sizes follow the 1M-account devnet state (1.37M nodes, 165 MB: ~120 bytes a node): 15%
 * branch-sized (400–532 bytes), the rest leaf-sized (40–110 bytes); contents are random (trie nodes
 * are mostly hashes: as incompressible). Hashes are random, not keccak of the bytes: the write path
 * never hashes, and nothing is read back here.
 */
import { IdbNodeStore } from '../src/store/idb-store.ts'

export interface IdbBenchRequest {
  nodes: number
  batch: number
  slice: number
  stageFraction: number
  /** URL of the store-writer worker script; null: the store writes on this thread. */
  writerUrl: string | null
}

export type IdbBenchMessage =
  | { type: 'slice'; nodes: number; ms: number; writeMs: number }
  | { type: 'done'; nodes: number; ms: number; records: number }
  | { type: 'error'; error: string }

type Pair = readonly [Uint8Array, Uint8Array]

/** Random bytes (crypto.getRandomValues fills at most 64 KiB per call). */
function random(n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)))
  return out
}

/** `count` new nodes as views of one buffer per batch (as decoded replies are views of a message). */
function newNodes(count: number): Pair[] {
  const sizes = new Uint16Array(count)
  const rnd = random(2 * count)
  let total = 0
  for (let i = 0; i < count; i++) {
    const r = rnd[2 * i]! / 256
    const s = rnd[2 * i + 1]! / 256
    sizes[i] = r < 0.15 ? 400 + Math.floor(s * 133) : 40 + Math.floor(s * 71)
    total += 32 + sizes[i]!
  }
  const buf = random(total)
  const out: Pair[] = []
  let o = 0
  for (let i = 0; i < count; i++) {
    out.push([buf.subarray(o, o + 32), buf.subarray(o + 32, o + 32 + sizes[i]!)])
    o += 32 + sizes[i]!
  }
  return out
}

async function run(q: IdbBenchRequest, post: (m: IdbBenchMessage) => void): Promise<void> {
  const name = `bench-idb-${Math.random()}`
  const writer = q.writerUrl
  // A tree without the writer option ignores the third argument (writes stay on this thread).
  const store = await (
    IdbNodeStore.open as (n: string, v?: unknown, o?: { spawnWriter?: () => Worker }) => Promise<IdbNodeStore>
  )(name, undefined, writer ? { spawnWriter: () => new Worker(writer, { type: 'module' }) } : undefined)
  await store.ready()
  const t0 = performance.now()
  let written = 0
  let nextSlice = q.slice
  let sliceStart = t0
  let writeMs = 0
  let staged: Pair[] = []
  let records = 0
  while (written < q.nodes) {
    const promote = staged
    const fresh = Math.min(q.nodes - written - promote.length, q.batch - 2 * promote.length)
    const all = newNodes(Math.max(0, fresh))
    const stageCount = Math.floor(all.length * q.stageFraction)
    const stage = written + promote.length + all.length >= q.nodes ? [] : all.slice(0, stageCount)
    const nodes = [...promote, ...all.slice(stage.length)]
    const t = performance.now()
    await store.write({
      nodes,
      stage,
      unstage: promote.map(([h]) => h),
      meta: [['bench/progress', new Uint8Array(8)]],
    })
    writeMs += performance.now() - t
    records++
    staged = stage
    written += nodes.length
    while (written >= nextSlice) {
      const now = performance.now()
      post({ type: 'slice', nodes: nextSlice, ms: now - sliceStart, writeMs })
      sliceStart = now
      writeMs = 0
      nextSlice += q.slice
    }
  }
  const ms = performance.now() - t0
  post({ type: 'done', nodes: written, ms, records })
  store.close()
  await new Promise<void>((resolve) => {
    const r = indexedDB.deleteDatabase(name)
    r.onsuccess = r.onerror = r.onblocked = () => resolve()
  })
}

self.onmessage = (ev: MessageEvent<IdbBenchRequest>) => {
  const post = (m: IdbBenchMessage) => self.postMessage(m)
  run(ev.data, post).catch((e: Error) => post({ type: 'error', error: String(e?.stack ?? e) }))
}
