/**
 * bench:first-sync's child for run (b): the range-proven network snapshot (recovery/snapshot-sync.ts)
 * into a fresh LevelDB from the given `rootsync serve` peers, run as a first sync runs it: to
 * completion (the rebuilt root equal to the target root, checked by the snapshot itself), then the
 * completed-sync record written as the node-by-node sync writes it. It speaks bench/sync.bench.ts's
 * child protocol (args in BENCH_SYNC_CHILD; SYNC_START / SYNC_END / CHILD_RESULT lines on stdout), so
 * the parent measures both runs with the same `runSync`.
 *
 * After SYNC_END, outside the timed window: the distinct nodes stored (LevelDB keys) and, with
 * BENCH_FINAL_CHECK=1, the recovery manager's full final check (every node re-hashed from the root)
 * timed on its own — what `rootsync recover` adds, not what a first sync needs.
 * Snapshot options (JSON, `SnapshotSyncOptions`) may be given in BENCH_SNAPSHOT_OPTIONS.
 */
import '../src/node/polyfills.ts'
import { multiaddr } from '@multiformats/multiaddr'
import { equals, fromHex } from '../src/core/bytes.ts'
import type { TrustedHeader } from '../src/core/chain/header.ts'
import { useWasmKeccak } from '../src/core/hash.ts'
import { META } from '../src/core/meta-keys.ts'
import { checkRecovered } from '../src/core/recovery/final-check.ts'
import { snapshotSync } from '../src/core/recovery/snapshot-sync.ts'
import { DEFAULT_RECOVERY_OPTIONS, type StrategyContext } from '../src/core/recovery/types.ts'
import { rlpEncode } from '../src/core/rlp.ts'
import { readSyncedRoot } from '../src/core/sync/root-record.ts'
import { PeerClient } from '../src/net/client.ts'
import { createClientLibp2p } from '../src/node/libp2p.ts'
import { realClock } from '../src/platform/clock.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'
import { gc, idleCpu, MB } from './lib.ts'
import type { ChildArgs, ChildResult } from './sync.bench.ts'

const a = JSON.parse(process.env.BENCH_SYNC_CHILD!) as ChildArgs
await useWasmKeccak()
const store = await LevelNodeStore.open(a.dbPath)
const node = await createClientLibp2p()
const clients = a.addrs.map((x) => new PeerClient(node, multiaddr(x), { timeoutMs: 30_000 }))
await Promise.all(clients.map((c) => c.status())) // connections up before the clock starts
const root = fromHex(a.root)
const counters = { bytes: 0, nodes: 0, blocks: 0 }
const charged: string[] = []
const ctx: StrategyContext = {
  // The bench's target is the genesis state root the servers hold (what bench:sync syncs too).
  target: { header: { number: 0, stateRoot: root }, hash: root } as unknown as TrustedHeader,
  chainId: 0,
  store,
  clock: realClock,
  peers: () => clients.map((c, i) => ({ id: `peer${i}`, wire: c })),
  signal: new AbortController().signal,
  counters,
  progress: () => {},
  charge: (peer, reason) => void charged.push(`${peer}: ${reason}`),
  options: DEFAULT_RECOVERY_OPTIONS,
}
const opts = process.env.BENCH_SNAPSHOT_OPTIONS ? JSON.parse(process.env.BENCH_SNAPSHOT_OPTIONS) : {}

gc()
const m0 = process.memoryUsage()
let peak = m0.heapUsed
let rssPeak = m0.rss
const timer = setInterval(() => {
  const m = process.memoryUsage()
  if (m.heapUsed > peak) peak = m.heapUsed
  if (m.rss > rssPeak) rssPeak = m.rss
}, 100)
const idleCpuMsPerSec = await idleCpu(3000)
process.stdout.write('SYNC_START\n')
const cpu0 = process.cpuUsage()
const t0 = performance.now()
await snapshotSync(ctx, opts)
// A completed first sync's record, as the node-by-node writer writes it (RLP [root, height]).
await store.write({ meta: [[META.stateRoot, rlpEncode([root, 0])]] })
const ms = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
process.stdout.write('SYNC_END\n')
clearInterval(timer)
if (charged.length) throw new Error(`honest peers charged: ${charged.join('; ')}`)

let stored = 0
for await (const _ of store.nodeHashes()) stored++
let finalCheckMs: number | null = null
if (process.env.BENCH_FINAL_CHECK === '1') {
  const t = performance.now()
  await checkRecovered(store, root, { ...DEFAULT_RECOVERY_OPTIONS, finalCheck: 'full' }, ctx.signal)
  finalCheckMs = performance.now() - t
}
const synced = await readSyncedRoot(store)
const out: ChildResult & { stored: number; finalCheckMs: number | null } = {
  nodes: counters.nodes,
  skipped: 0,
  bytes: counters.bytes,
  ms,
  maxFrontier: 0,
  verified: synced !== null && equals(synced.root, root) && (await store.hasNode(root)),
  heap: { baseMB: m0.heapUsed / MB, peakMB: peak / MB, peakExtMB: 0, livePeakMB: 0, endLiveMB: 0 },
  rssPeakMB: rssPeak / MB,
  cpuMs: { user: cpu.user / 1000, system: cpu.system / 1000 },
  store: { batches: 0, nodePuts: 0, metaPuts: 0, metaDels: 0, hasQueries: 0, hasKeys: 0 },
  peers: [],
  stored,
  finalCheckMs,
  idleCpuMsPerSec,
}
for (const c of clients) c.close()
await node.stop()
await store.close()
process.stdout.write(`CHILD_RESULT ${JSON.stringify(out)}\n`)
