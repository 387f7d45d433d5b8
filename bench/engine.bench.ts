/**
 * bench:engine — the sync engine's own CPU per verified node, in process: no network, no child
 * processes. A devnet genesis state (BENCH_ACCOUNTS accounts, default 100k; contracts 100 × 100 slots
 * as in bench:sync) is built once into a source map; in-process peers answer every request from it at
 * once, and `syncToState` (wasm keccak, default config) syncs it into a fresh store. Reported per run:
 * process CPU time (user + system, so GC threads count) per verified node, and verified nodes/s of
 * wall time. The machine is shared, so CPU time is the figure to compare; each run is repeated and the
 * median is printed.
 *
 * BENCH_STORE=memory (default: `MemoryNodeStore`, hex-string keys), `null` (a store that keeps
 * nothing and answers "absent": the engine alone) or `level` (each engine's own `LevelNodeStore` in a
 * fresh temp directory: the CLI's store, staging included). BENCH_WIRE=1: the peers answer with an
 * encoded nodes response and each engine decodes it with its own tree's `decodeNodesResponse` (the
 * wire client's work per reply; the peers' encoding is the same for both engines).
 * BENCH_PEERS (default 1) in-process peers.
 * BENCH_RUNS (default 5) measured runs after one warm-up run. BENCH_PROFILE=1 (default) adds one run
 * under the V8 sampling profiler (node:inspector) and prints the top self-time functions.
 * BENCH_BASE=<dir>: another checkout (e.g. `git archive HEAD src | tar -x -C /tmp/base`, with a
 * node_modules symlink) whose engine runs alternately with this one, for a same-machine A/B.
 * BENCH_PROFILE_FILE=<prefix> also writes each profile to <prefix>.<engine>.cpuprofile.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { generateDevnet } from '../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../src/core/chain/genesis.ts'
import * as hashMod from '../src/core/hash.ts'
import * as wireMod from '../src/core/protocol/messages.ts'
import { MemoryNodeStore, type NodeStore, type WriteBatch } from '../src/core/store.ts'
import * as syncMod from '../src/core/sync/state-sync.ts'
import type { SyncPeer } from '../src/core/sync/types.ts'
import { realClock } from '../src/platform/clock.ts'
import * as levelMod from '../src/store/level-store.ts'
import { fmtNum, gc, note, printTable } from './lib.ts'
import { type CpuProfile, shortUrl } from './profile.ts'

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const PEERS = Number(process.env.BENCH_PEERS ?? 1)
const STORE = process.env.BENCH_STORE ?? 'memory'
const PROFILE = process.env.BENCH_PROFILE !== '0'
const BASE = process.env.BENCH_BASE
const WIRE = process.env.BENCH_WIRE === '1'

type SyncFn = typeof syncMod.syncToState

interface Engine {
  name: string
  sync: SyncFn
  level: typeof levelMod.LevelNodeStore
  decode: typeof wireMod.decodeNodesResponse
}

/**
 * The peers' index: a number from a hash's first 6 bytes (unique among a devnet's nodes; the engine
 * checks every reply's hash anyway), so answering costs little next to the engine.
 */
function srcKey(h: Uint8Array): number {
  return h[0]! * 2 ** 40 + h[1]! * 2 ** 32 + ((h[2]! << 24) >>> 0) + (h[3]! << 16) + (h[4]! << 8) + h[5]!
}

function makePeers(src: Map<number, Uint8Array>, n: number, engine: Engine): SyncPeer[] {
  const empty = new Uint8Array(0)
  const answer = (hashes: Uint8Array[]) => hashes.map((h) => src.get(srcKey(h)) ?? empty)
  return Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    getNodes: WIRE
      ? async (hashes: Uint8Array[]) =>
          engine.decode(wireMod.encodeNodesResponse(answer(hashes)), hashes.length)
      : async (hashes: Uint8Array[]) => answer(hashes),
  }))
}

/** Keeps nothing: every presence query says "absent"; counts what it was given. */
class NullStore implements NodeStore {
  nodes = 0
  async getNode(): Promise<Uint8Array | undefined> {
    return undefined
  }
  async hasNode(): Promise<boolean> {
    return false
  }
  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    return hashes.map(() => false)
  }
  async getMeta(): Promise<Uint8Array | undefined> {
    return undefined
  }
  async *metaKeys(): AsyncIterable<string> {}
  async getStaged(): Promise<Uint8Array | undefined> {
    return undefined
  }
  async *stagedHashes(): AsyncIterable<Uint8Array> {}
  async write(b: WriteBatch): Promise<void> {
    for (const _ of b.nodes ?? []) this.nodes++
  }
}

interface RunResult {
  nodes: number
  cpuUs: number
  wallMs: number
}

async function runOnce(engine: Engine, root: Uint8Array, src: Map<number, Uint8Array>, expect: number) {
  gc()
  const dir = STORE === 'level' ? mkdtempSync(join(tmpdir(), 'rootsync-bench-engine-')) : ''
  const store =
    STORE === 'null'
      ? new NullStore()
      : STORE === 'level'
        ? await engine.level.open(join(dir, 'db'))
        : new MemoryNodeStore()
  const peers = makePeers(src, PEERS, engine)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await engine.sync(root, 0, { clock: realClock, store, peers })
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const stored =
    store instanceof NullStore
      ? store.nodes
      : store instanceof MemoryNodeStore
        ? store.nodes.size
        : store.stats().nodes
  if (dir) {
    await (store as levelMod.LevelNodeStore).close()
    rmSync(dir, { recursive: true, force: true })
  }
  if (r.nodes !== expect || stored !== expect)
    throw new Error(`${engine.name}: synced ${r.nodes} nodes, stored ${stored}, expected ${expect}`)
  return { nodes: r.nodes, cpuUs: cpu.user + cpu.system, wallMs } satisfies RunResult
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---- profile --------------------------------------------------------------------------------------

function printProfile(title: string, p: CpuProfile): void {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
  const self = new Map<string, number>()
  let busy = 0
  // A sample lasts until the next one (timeDeltas[i] is the gap before sample i; the first gap,
  // from Profiler.start to the first sample, belongs to no function).
  for (let i = 0; i < p.samples.length; i++) {
    const cf = byId.get(p.samples[i]!)!
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000
    if (cf.functionName === '(idle)') continue
    busy += dt
    const where = cf.url
      ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}:${cf.columnNumber}`
      : `script ${cf.scriptId}`
    const key = `${cf.functionName || '(anonymous)'}\t${where}`
    self.set(key, (self.get(key) ?? 0) + dt)
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, 20)
  printTable(
    `${title} — top ${rows.length} by self time (${fmtNum(busy)} ms busy)`,
    ['function', 'where', 'self ms', '% of busy'],
    rows.map(([k, ms]) => {
      const [fn, where] = k.split('\t')
      return [fn!, where!, fmtNum(ms), ((ms / busy) * 100).toFixed(1)]
    }),
  )
}

// ---- main -----------------------------------------------------------------------------------------

async function loadEngines(): Promise<Engine[]> {
  await hashMod.useWasmKeccak()
  const engines: Engine[] = [
    {
      name: 'this tree',
      sync: syncMod.syncToState,
      level: levelMod.LevelNodeStore,
      decode: wireMod.decodeNodesResponse,
    },
  ]
  if (BASE) {
    const dir = resolve(BASE)
    const h = (await import(pathToFileURL(`${dir}/src/core/hash.ts`).href)) as typeof hashMod
    await h.useWasmKeccak()
    const s = (await import(pathToFileURL(`${dir}/src/core/sync/state-sync.ts`).href)) as typeof syncMod
    const l = (await import(pathToFileURL(`${dir}/src/store/level-store.ts`).href)) as typeof levelMod
    const w = (await import(pathToFileURL(`${dir}/src/core/protocol/messages.ts`).href)) as typeof wireMod
    engines.unshift({
      name: `base (${BASE})`,
      sync: s.syncToState,
      level: l.LevelNodeStore,
      decode: w.decodeNodesResponse,
    })
  }
  return engines
}

async function main(): Promise<void> {
  const engines = await loadEngines()
  note(`building a ${fmtNum(ACCOUNTS)}-account devnet state…`)
  const { genesis } = generateDevnet({ seed: 'bench-engine', accounts: ACCOUNTS, contracts: 100, slots: 100 })
  const src = new Map<number, Uint8Array>()
  const root = genesisStateRoot(genesis, (h, b) => src.set(srcKey(h), b))
  const expect = src.size
  note(`${fmtNum(expect)} distinct nodes; ${engines.length} engine(s), store ${STORE}, ${PEERS} peer(s)`)

  const results = new Map<string, RunResult[]>(engines.map((e) => [e.name, []]))
  for (const e of engines) await runOnce(e, root, src, expect) // warm-up (JIT)
  for (let i = 0; i < RUNS; i++) {
    for (const e of engines) {
      const r = await runOnce(e, root, src, expect)
      results.get(e.name)!.push(r)
      note(
        `${e.name} run ${i + 1}: ${(r.cpuUs / r.nodes).toFixed(2)} µs CPU/node, ${fmtNum(r.nodes / (r.wallMs / 1000))} nodes/s`,
      )
    }
  }
  printTable(
    `bench:engine — ${fmtNum(ACCOUNTS)} accounts (${fmtNum(expect)} nodes), wasm keccak, store ${STORE}${WIRE ? ', replies encoded and decoded' : ''}, ${PEERS} in-process peer(s); median of ${RUNS} runs (min–max)`,
    ['engine', 'µs CPU / node', 'nodes/s per CPU-second', 'nodes/s (wall)'],
    engines.map((e) => {
      const rs = results.get(e.name)!
      const us = rs.map((r) => r.cpuUs / r.nodes)
      const wall = rs.map((r) => r.nodes / (r.wallMs / 1000))
      return [
        e.name,
        `${median(us).toFixed(2)} (${Math.min(...us).toFixed(2)}–${Math.max(...us).toFixed(2)})`,
        fmtNum(1e6 / median(us)),
        `${fmtNum(median(wall))} (${fmtNum(Math.min(...wall))}–${fmtNum(Math.max(...wall))})`,
      ]
    }),
  )

  if (PROFILE) {
    const session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.setSamplingInterval', { interval: 100 })
    for (const e of engines) {
      gc()
      await session.post('Profiler.start')
      await runOnce(e, root, src, expect)
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile }
      printProfile(`profile, ${e.name}`, profile)
      if (process.env.BENCH_PROFILE_FILE)
        writeFileSync(
          `${process.env.BENCH_PROFILE_FILE}.${engines.indexOf(e)}.cpuprofile`,
          JSON.stringify(profile),
        )
    }
    session.disconnect()
  }
}

await main()
