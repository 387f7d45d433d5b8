/**
 * The bench:browser baseline, bundled by bench/browser.bench.ts and run in a dedicated Web Worker
 * (where the app's sync writes too) in the same Chromium: the state's nodes, fetched from
 * `/nodes.bin` (`[hash 32][len u32 BE][bytes]…`, every distinct node of the devnet state), written
 *
 * - one IndexedDB record per node (key = the 32-byte hash, value = the node bytes) through `idb`,
 *   one readwrite transaction per batch of `batch` nodes (the sync's flush size): the baseline;
 * - into the packed store the app uses (`IdbNodeStore.write`, one call per batch): its raw rate.
 *
 * Each into a fresh database, deleted afterwards. The page posts the figures to `window.__result`.
 */
import { deleteDB, openDB } from 'idb'
import { IdbNodeStore } from '../src/store/idb-store.ts'

type Pair = [Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>]

export interface BaselineRun {
  kind: 'one-record-per-node' | 'packed'
  nodes: number
  bytes: number
  ms: number
  /** IndexedDB usage of the origin after the run (navigator.storage.estimate), before deleting. */
  idbUsage: number | null
}

export interface BaselineResult {
  nodes: number
  bytes: number
  batch: number
  fetchMs: number
  runs: BaselineRun[]
}

async function idbUsage(): Promise<number | null> {
  const e = (await navigator.storage.estimate()) as StorageEstimate & {
    usageDetails?: { indexedDB?: number }
  }
  return e.usageDetails?.indexedDB ?? null
}

async function onePerNode(pairs: Pair[], batch: number, bytes: number): Promise<BaselineRun> {
  const name = `baseline-one-${Math.random()}`
  const db = await openDB(name, 1, { upgrade: (d) => d.createObjectStore('nodes') })
  const t = performance.now()
  for (let i = 0; i < pairs.length; i += batch) {
    const tx = db.transaction('nodes', 'readwrite')
    const end = Math.min(pairs.length, i + batch)
    const puts: Promise<unknown>[] = []
    for (let j = i; j < end; j++) puts.push(tx.store.put(pairs[j]![1], pairs[j]![0]))
    await Promise.all(puts)
    await tx.done
  }
  const ms = performance.now() - t
  const usage = await idbUsage()
  db.close()
  await deleteDB(name)
  return { kind: 'one-record-per-node', nodes: pairs.length, bytes, ms, idbUsage: usage }
}

async function packed(pairs: Pair[], batch: number, bytes: number): Promise<BaselineRun> {
  const name = `baseline-packed-${Math.random()}`
  const store = await IdbNodeStore.open(name)
  const t = performance.now()
  for (let i = 0; i < pairs.length; i += batch) await store.write({ nodes: pairs.slice(i, i + batch) })
  const ms = performance.now() - t
  const usage = await idbUsage()
  store.close()
  await deleteDB(name)
  return { kind: 'packed', nodes: pairs.length, bytes, ms, idbUsage: usage }
}

async function main(batch: number, runs: number, onePer: boolean): Promise<BaselineResult> {
  const t = performance.now()
  const buf = new Uint8Array(await (await fetch('/nodes.bin')).arrayBuffer())
  const dv = new DataView(buf.buffer)
  // Every key and value in its own small buffer: a structured clone of a view copies its whole buffer.
  const pairs: Pair[] = []
  let bytes = 0
  for (let o = 0; o < buf.length; ) {
    const len = dv.getUint32(o + 32)
    pairs.push([buf.slice(o, o + 32), buf.slice(o + 36, o + 36 + len)])
    bytes += len
    o += 36 + len
  }
  const fetchMs = performance.now() - t
  const out: BaselineRun[] = []
  for (let r = 0; r < runs; r++) {
    // One record per node takes minutes at 1M accounts; BENCH_ONE_PER_NODE=0 skips it.
    if (onePer) out.push(await onePerNode(pairs, batch, bytes))
    out.push(await packed(pairs, batch, bytes))
  }
  return { nodes: pairs.length, bytes, batch, fetchMs, runs: out }
}

self.onmessage = (ev: MessageEvent<{ batch: number; runs: number; onePerNode?: boolean }>) => {
  main(ev.data.batch, ev.data.runs, ev.data.onePerNode !== false).then(
    (r) => self.postMessage(r),
    (e: Error) => self.postMessage({ error: String(e?.stack ?? e) }),
  )
}
