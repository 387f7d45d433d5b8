/**
 * The bench:browser stage floors, bundled by bench/browser.bench.ts and run in a dedicated Web Worker
 * of a fresh Chromium profile: how fast each stage of the sync could go alone, on the same nodes
 * (`/nodes.bin`: `[hash 32][len u32 BE][bytes]…`, every distinct node of the devnet state), so the
 * app's sync can be put against its slowest stage in the same run.
 *
 * - Network: the app's own libp2p configuration and wire client (src/worker/libp2p-browser.ts:
 *   WebSocket + noise + yamux, `PeerClient`), dialling the bench's serving nodes and asking for every
 *   node by hash, with the sync's largest request size (`maxBatch`) and its in-flight limit per peer
 *   (`maxInFlightPerPeer`), spread over the peers from one shared queue. The reply is decoded (the
 *   strict codec, as the sync does) and counted; nothing is hashed, checked or stored. Connections
 *   are opened (one status request per peer) before the clock starts: the floor is the delivery rate.
 * - Hashing: keccak-256 of every node with the app's keccak (src/core/hash.ts, WebAssembly once
 *   `useWasmKeccak` resolved), compared against the hash it was asked for, as the sync verifies.
 *
 * Security: this page measures only; nothing it receives is trusted or kept. A node a peer did not
 * deliver, or one whose hash differs, is counted and reported (a floor over missing data is no floor).
 * The page posts the figures to `window.__result`.
 */

import { keccak256, keccakImplementation, useWasmKeccak } from '../src/core/hash.ts'
import { DEFAULT_SYNC_CONFIG } from '../src/core/sync/types.ts'
import { createBrowserLibp2p, multiaddr, PeerClient } from '../src/worker/libp2p-browser.ts'

export interface FloorRun {
  stage: 'network' | 'hashing'
  /** Nodes delivered (network) or hashed (hashing). */
  nodes: number
  bytes: number
  ms: number
  /** Network: hashes asked for that no peer delivered. Hashing: digests that differ from the key. */
  missed: number
  /** Network: requests sent (replies cut short by the server's size limit are asked again). */
  requests: number
}

export interface FloorsResult {
  nodes: number
  bytes: number
  peers: number
  batch: number
  inFlightPerPeer: number
  keccak: 'noble' | 'wasm'
  /** Dial + first status round trip of every peer (not in the network floor). */
  connectMs: number
  runs: FloorRun[]
}

interface Nodes {
  hashes: Uint8Array[]
  values: Uint8Array[]
  bytes: number
}

function parse(buf: Uint8Array): Nodes {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const hashes: Uint8Array[] = []
  const values: Uint8Array[] = []
  let bytes = 0
  for (let o = 0; o < buf.length; ) {
    const len = dv.getUint32(o + 32)
    hashes.push(buf.slice(o, o + 32))
    values.push(buf.slice(o + 36, o + 36 + len))
    bytes += len
    o += 36 + len
  }
  return { hashes, values, bytes }
}

/** Every hash asked of the peers, `inFlight` requests of `batch` at a time per peer, one shared queue. */
async function network(
  clients: PeerClient[],
  hashes: Uint8Array[],
  batch: number,
  inFlight: number,
): Promise<FloorRun> {
  const queue: Uint8Array[][] = []
  for (let i = 0; i < hashes.length; i += batch) queue.push(hashes.slice(i, i + batch))
  let nodes = 0
  let bytes = 0
  let missed = 0
  let requests = 0
  const lane = async (c: PeerClient): Promise<void> => {
    for (let ask = queue.shift(); ask; ask = queue.shift()) {
      requests++
      const got = await c.nodes(ask)
      let served = 0
      for (const n of got) {
        if (n.length) {
          nodes++
          bytes += n.length
        } else missed++
        served++
      }
      // Cut short by the server's response size limit: the rest goes back in the queue.
      if (served < ask.length && served > 0) queue.push(ask.slice(served))
      else if (served === 0) missed += ask.length
    }
  }
  const t = performance.now()
  await Promise.all(clients.flatMap((c) => Array.from({ length: inFlight }, () => lane(c))))
  return { stage: 'network', nodes, bytes, ms: performance.now() - t, missed, requests }
}

function hashing(n: Nodes): FloorRun {
  let missed = 0
  const t = performance.now()
  for (let i = 0; i < n.values.length; i++) {
    const d = keccak256(n.values[i]!)
    const want = n.hashes[i]!
    for (let j = 0; j < 32; j++)
      if (d[j] !== want[j]) {
        missed++
        break
      }
  }
  return {
    stage: 'hashing',
    nodes: n.values.length,
    bytes: n.bytes,
    ms: performance.now() - t,
    missed,
    requests: 0,
  }
}

async function main(addrs: string[], runs: number): Promise<FloorsResult> {
  const n = parse(new Uint8Array(await (await fetch('/nodes.bin')).arrayBuffer()))
  await useWasmKeccak()
  const batch = DEFAULT_SYNC_CONFIG.maxBatch
  const inFlight = DEFAULT_SYNC_CONFIG.maxInFlightPerPeer
  const node = await createBrowserLibp2p(true)
  const clients = addrs.map((a) => new PeerClient(node, multiaddr(a), { timeoutMs: 30_000 }))
  const out: FloorRun[] = []
  let connectMs = 0
  try {
    const t = performance.now()
    await Promise.all(clients.map((c) => c.status()))
    connectMs = performance.now() - t
    for (let r = 0; r < runs; r++) {
      out.push(await network(clients, n.hashes, batch, inFlight))
      out.push(hashing(n))
    }
  } finally {
    for (const c of clients) c.close()
    await node.stop()
  }
  return {
    nodes: n.hashes.length,
    bytes: n.bytes,
    peers: clients.length,
    batch,
    inFlightPerPeer: inFlight,
    keccak: keccakImplementation(),
    connectMs,
    runs: out,
  }
}

self.onmessage = (ev: MessageEvent<{ addrs: string[]; runs: number }>) => {
  main(ev.data.addrs, ev.data.runs).then(
    (r) => self.postMessage(r),
    (e: Error) => self.postMessage({ error: String(e?.stack ?? e) }),
  )
}
