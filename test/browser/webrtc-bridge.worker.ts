/**
 * A dedicated worker for the WebRTC bridge test and benchmark. It handles `add-peer` / `peer-closed`
 * as the sync worker does (one `BridgedPeer` per port; it has no libp2p node of its own for them, so
 * those peers are reachable only through the page's WebRTC connections) and runs commands the page
 * forwards from the test: single requests, a trie walk checking every node's hash, a cancel, a
 * request loop that ends when the peer dies, and full syncs over the bridge or over WebSockets in
 * this worker (the benchmark's baseline).
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { ToWorker } from '../../src/api/worker-protocol.ts'
import { accountRefs } from '../../src/core/account.ts'
import { equals, fromHex, toHex } from '../../src/core/bytes.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { keccak256, useWasmKeccak } from '../../src/core/hash.ts'
import { keyAfter, LAST_KEY } from '../../src/core/protocol/range.ts'
import { MemoryNodeStore, type NodeStore } from '../../src/core/store.ts'
import { readSyncedRoot, syncToState } from '../../src/core/sync/state-sync.ts'
import { childRefs, decodeNode } from '../../src/core/trie/node.ts'
import { verifyRangeProof } from '../../src/core/trie/range-proof.ts'
import { PeerClient, PeerRequestError } from '../../src/net/client.ts'
import { syncPeerOf } from '../../src/net/sync-peer.ts'
import type { WireClient } from '../../src/net/wire-client.ts'
import { realClock } from '../../src/platform/clock.ts'
import { IdbNodeStore } from '../../src/store/idb-store.ts'
import { BridgedPeer } from '../../src/worker/bridged-peer.ts'
import { createBrowserLibp2p } from '../../src/worker/libp2p-browser.ts'

export type Cmd =
  | { op: 'peers' }
  | { op: 'status'; peerId: string }
  | { op: 'headers'; peerId: string; start: number; count: number }
  | { op: 'walk'; peerId: string; root: string; max: number }
  /** Every account leaf under `root` by chained `/rootsync/range/1` ranges, each reply verified. */
  | { op: 'ranges'; peerId: string; root: string; maxBytes: number }
  /** `times` status requests, each aborted right after it is sent, then one that is not. */
  | { op: 'cancel'; peerId: string; times: number }
  | { op: 'loop'; peerId: string }
  | { op: 'sync'; via: 'bridge' | 'ws'; peers: string[]; root: string; store: 'memory' | 'idb' }
  /** Every node the last memory-store sync stored, asked again in fixed batches, `concurrency` at once. */
  | { op: 'blast'; via: 'bridge' | 'ws'; peer: string; batch: number; concurrency: number }

let timeoutMs = 10_000
const bridged = new Map<string, BridgedPeer>()
const closedPeers: string[] = []
/** Hashes stored by the last sync into a memory store (what `blast` asks for). */
let known: Uint8Array[] = []

/** Clients for `peers`: bridged peer ids, or WebSocket multiaddrs dialled from this worker. */
async function clientsFor(
  via: 'bridge' | 'ws',
  peers: string[],
): Promise<{ clients: WireClient[]; stop(): Promise<void> }> {
  if (via === 'bridge') return { clients: peers.map(peer), stop: async () => {} }
  const node = await createBrowserLibp2p(true)
  const ws = peers.map((a) => new PeerClient(node, multiaddr(a), { timeoutMs }))
  await Promise.all(ws.map((c) => c.status())) // connections up before the clock starts
  return {
    clients: ws,
    async stop() {
      for (const c of ws) c.close()
      await node.stop()
    },
  }
}

const peer = (id: string): BridgedPeer => {
  const p = bridged.get(id)
  if (!p) throw new Error(`no bridged peer ${id}`)
  return p
}

const errorOf = (e: unknown) => ({
  name: (e as Error).name,
  reason: e instanceof PeerRequestError ? e.reason : undefined,
  code: (e as { code?: string }).code,
  message: (e as Error).message,
})

async function run(cmd: Cmd, progress: (v: unknown) => void): Promise<unknown> {
  switch (cmd.op) {
    case 'peers':
      return { bridged: [...bridged.keys()], closed: closedPeers }
    case 'status': {
      const s = await peer(cmd.peerId).status()
      return {
        chainId: s.chainId,
        genesisHash: toHex(s.genesisHash),
        headNumber: s.headNumber,
        headStateRoot: toHex(s.headStateRoot),
      }
    }
    case 'headers': {
      const hs = await peer(cmd.peerId).headers(cmd.start, cmd.count)
      return hs.map((h) => ({
        number: h.header.number,
        hash: toHex(headerHash(h.header)),
        stateRoot: toHex(h.header.stateRoot),
        signatures: h.signatures.length,
      }))
    }
    case 'walk': {
      // Breadth-first from the root, asking in batches; every node must hash to what was asked.
      const p = peer(cmd.peerId)
      let frontier = [fromHex(cmd.root)]
      let asked = 0
      let got = 0
      let mismatches = 0
      let empty = 0
      while (frontier.length && got < cmd.max) {
        const batch = frontier.slice(0, 256)
        frontier = frontier.slice(256)
        const nodes = await p.nodes(batch)
        asked += batch.length
        for (const [i, n] of nodes.entries()) {
          if (n.length === 0) {
            empty++
            continue
          }
          if (!equals(keccak256(n), batch[i]!)) {
            mismatches++
            continue
          }
          got++
          for (const r of childRefs(decodeNode(n), 'state', accountRefs))
            if (r.kind === 'state') frontier.push(r.hash)
        }
      }
      return { asked, got, mismatches, empty }
    }
    case 'ranges': {
      const p = peer(cmd.peerId)
      const root = fromHex(cmd.root)
      let origin: Uint8Array | null = new Uint8Array(32)
      let leaves = 0
      let replies = 0
      while (origin) {
        const r = await p.range({ root, origin, limit: LAST_KEY, maxBytes: cmd.maxBytes })
        const { hasMore } = verifyRangeProof(root, origin, r.keys, r.values, r.proof)
        replies++
        leaves += r.keys.length
        origin = hasMore ? keyAfter(r.keys[r.keys.length - 1]!) : null
      }
      return { leaves, replies }
    }
    case 'cancel': {
      const p = peer(cmd.peerId)
      const outcomes: unknown[] = []
      for (let i = 0; i < cmd.times; i++) {
        const ac = new AbortController()
        const pending = p.status(ac.signal)
        ac.abort()
        try {
          await pending
          outcomes.push({ resolved: true })
        } catch (e) {
          outcomes.push(errorOf(e))
        }
      }
      // The peer stays usable after cancelled requests.
      const after = await p.status()
      return { outcomes, afterHead: after.headNumber }
    }
    case 'loop': {
      const p = peer(cmd.peerId)
      let n = 0
      for (;;) {
        const t0 = performance.now()
        try {
          await p.status()
        } catch (e) {
          return { ...errorOf(e), requests: n, ms: performance.now() - t0 }
        }
        if (n++ === 0) progress('looping')
      }
    }
    case 'sync': {
      const store: NodeStore =
        cmd.store === 'idb'
          ? await IdbNodeStore.open(`bench-${Date.now()}-${Math.random()}`)
          : new MemoryNodeStore()
      const { clients, stop } = await clientsFor(cmd.via, cmd.peers)
      const r = await syncToState(fromHex(cmd.root), 0, {
        clock: realClock,
        store,
        peers: clients.map((c, i) => syncPeerOf(c, `${cmd.via}${i}`)),
      })
      const synced = await readSyncedRoot(store)
      await stop()
      if (store instanceof MemoryNodeStore) known = [...store.nodes.keys()].map((h) => fromHex(h))
      return {
        nodes: r.nodes,
        bytes: r.bytes,
        ms: r.ms,
        root: synced ? toHex(synced.root) : null,
        peers: r.peers.map((s) => ({
          id: s.id,
          delivered: s.delivered,
          timeouts: s.timeouts,
          errors: s.errors,
        })),
      }
    }
    case 'blast': {
      const { clients, stop } = await clientsFor(cmd.via, [cmd.peer])
      const c = clients[0]!
      let next = 0
      let nodes = 0
      let bytes = 0
      let bad = 0
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: cmd.concurrency }, async () => {
          while (next < known.length) {
            const batch = known.slice(next, next + cmd.batch)
            next += batch.length
            const got = await c.nodes(batch)
            for (const [i, n] of got.entries()) {
              if (equals(keccak256(n), batch[i]!)) nodes++
              else bad++
              bytes += n.length
            }
          }
        }),
      )
      const ms = performance.now() - t0
      await stop()
      return { nodes, bytes, bad, ms }
    }
  }
}

type In =
  | ToWorker
  | { type: 'config'; timeoutMs: number; wasm: boolean }
  | { type: 'cmd'; id: number; cmd: Cmd }

self.onmessage = (ev: MessageEvent<In>) => {
  const m = ev.data
  if (m.type === 'config') {
    timeoutMs = m.timeoutMs
    if (m.wasm) void useWasmKeccak()
  } else if (m.type === 'add-peer') {
    bridged.get(m.peer.peerId)?.close()
    bridged.set(m.peer.peerId, new BridgedPeer(m.peer.peerId, m.port, timeoutMs))
  } else if (m.type === 'peer-closed') {
    bridged.get(m.peerId)?.close()
    bridged.delete(m.peerId)
    closedPeers.push(m.peerId)
  } else if (m.type === 'cmd') {
    run(m.cmd, (v) => postMessage({ type: 'progress', id: m.id, value: v })).then(
      (value) => postMessage({ type: 'reply', id: m.id, ok: true, value }),
      (e) => postMessage({ type: 'reply', id: m.id, ok: false, error: errorOf(e) }),
    )
  }
}
