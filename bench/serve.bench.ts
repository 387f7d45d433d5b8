/**
 * bench:serve — state nodes served per second by a real `rootsync serve` process over loopback
 * WebSockets, to one and to three concurrent Node clients, against the floor: the raw LevelDB
 * multi-get rate for the same nodes in the same batches, measured in this run before the server starts.
 *
 * Env: BENCH_ACCOUNTS (default 100000), BENCH_BATCH (hashes per request, default 1024).
 */
import '../src/node/polyfills.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { accountRefs } from '../src/core/account.ts'
import { toHex } from '../src/core/bytes.ts'
import { ChainDB } from '../src/core/chain/chain-db.ts'
import { generateDevnet } from '../src/core/chain/devnet.ts'
import { genesisToJson } from '../src/core/chain/genesis.ts'
import { keccak256, useWasmKeccak } from '../src/core/hash.ts'
import { childRefs, decodeNode, type RefKind } from '../src/core/trie/node.ts'
import { PeerClient } from '../src/net/client.ts'
import { createClientLibp2p } from '../src/node/libp2p.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'
import { startServe, stopServe } from './devnet-state.ts'
import { fmtNum, fmtRatio, printTable } from './lib.ts'

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const BATCH = Number(process.env.BENCH_BATCH ?? 1024)

await useWasmKeccak()
const dir = mkdtempSync(join(tmpdir(), 'rootsync-bench-serve-'))
const { genesis } = generateDevnet({ seed: 'bench-serve', accounts: ACCOUNTS, contracts: 100, slots: 100 })
const genesisFile = join(dir, 'genesis.json')
writeFileSync(genesisFile, JSON.stringify(genesisToJson(genesis)))

// 1. Build the node's store, and list every node of the state (BFS, the order a sync asks in).
const dataDir = join(dir, 'node')
const store = await LevelNodeStore.open(join(dataDir, 'db'))
const chain = await ChainDB.open(store, genesis)
const root = (await chain.head()).header.stateRoot
const hashes: Uint8Array[] = []
let bytes = 0
{
  let frontier: { hash: Uint8Array; kind: RefKind }[] = [{ hash: root, kind: 'state' }]
  while (frontier.length) {
    const next: typeof frontier = []
    const got = await store.getNodes(frontier.map((f) => f.hash))
    frontier.forEach((f, i) => {
      const b = got[i]!
      hashes.push(f.hash)
      bytes += b.length
      if (f.kind !== 'code')
        next.push(...childRefs(decodeNode(b), f.kind === 'storage' ? 'storage' : 'state', accountRefs))
    })
    frontier = next
  }
}
console.log(
  `state: ${ACCOUNTS} accounts → ${fmtNum(hashes.length)} nodes and code blobs, ${(bytes / 1e6).toFixed(1)} MB; batch ${BATCH}`,
)

// 2. Floor: raw LevelDB multi-get of the same nodes in the same batches.
async function rawRead(): Promise<number> {
  const t = performance.now()
  for (let i = 0; i < hashes.length; i += BATCH) await store.getNodes(hashes.slice(i, i + BATCH))
  return hashes.length / ((performance.now() - t) / 1000)
}
await rawRead() // warm the OS and LevelDB caches as the server will find them
const floor = Math.max(await rawRead(), await rawRead())
await store.close()

// 3. The server, as its own process.
const server = await startServe(dataDir)
const ws = server.ws

async function serveRate(clients: number): Promise<{ rate: number; mbps: number }> {
  const nodes = await Promise.all(Array.from({ length: clients }, () => createClientLibp2p()))
  const peers = nodes.map((n) => new PeerClient(n, multiaddr(ws), { timeoutMs: 60_000 }))
  await Promise.all(peers.map((p) => p.status()))
  let served = 0
  let received = 0
  const t = performance.now()
  // Each client fetches every node, keeping 4 requests in flight, and hashes what it gets (as a sync would).
  await Promise.all(
    peers.map(async (p) => {
      let next = 0
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (;;) {
            const i = next
            next += BATCH
            if (i >= hashes.length) return
            const ask = hashes.slice(i, i + BATCH)
            const got = await p.nodes(ask)
            for (let j = 0; j < got.length; j++) {
              if (toHex(keccak256(got[j]!)) !== toHex(ask[j]!)) throw new Error('bad node')
              received += got[j]!.length
            }
            served += got.length
          }
        }),
      )
    }),
  )
  const secs = (performance.now() - t) / 1000
  for (const p of peers) p.close()
  await Promise.all(nodes.map((n) => n.stop()))
  return { rate: served / secs, mbps: received / 1e6 / secs }
}

const one = await serveRate(1)
const three = await serveRate(3)
await stopServe(server)

printTable(
  `bench:serve — ${fmtNum(hashes.length)} nodes, batches of ${BATCH}, loopback WebSockets`,
  ['measure', 'nodes/s', 'MB/s', 'vs LevelDB floor (goal ≥ 0.50×)'],
  [
    ['LevelDB raw multi-get (floor)', fmtNum(floor), '', '1.00×'],
    ['served to 1 client', fmtNum(one.rate), one.mbps.toFixed(1), fmtRatio(one.rate / floor)],
    ['served to 3 clients (total)', fmtNum(three.rate), three.mbps.toFixed(1), fmtRatio(three.rate / floor)],
  ],
)
console.log(
  `BENCH_JSON ${JSON.stringify({ bench: 'serve', nodes: hashes.length, batch: BATCH, floor, one, three })}`,
)
