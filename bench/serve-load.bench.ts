/**
 * bench:serve-load — how many clients one serving node holds: one real `rootsync serve` process over
 * a devnet state (100k accounts by default, the state bench:sync uses), and BENCH_CLIENTS (default 16)
 * clients that each run a full verified sync of it at the same time (`syncToState` over real libp2p,
 * loopback WebSockets, each client its own libp2p node and peer id). Clients run four to a child
 * process (this file with BENCH_SERVE_LOAD_CHILD set): sixteen Node processes on two cores would
 * measure the scheduler, not the server. Each client stores into an `ExternalNodeStore` (in memory,
 * off the V8 heap: bench/lib.ts) so LevelDB on the client side does not compete with the server.
 *
 * Printed: aggregate verified nodes/s (all clients' nodes over the time from the first start to the
 * last end), per-client nodes/s min / median / max, fairness = slowest / fastest (goal ≥ 0.5), the
 * server's CPU µs per node served, and its memory sampled through the run by a probe loaded into the
 * server process (`--import data:` module, a sample every 250 ms on fd 3): RSS and heapUsed at start,
 * peak and end, and the live heap (after a forced GC, on SIGUSR2) before and after the clients —
 * "flat" means the live heap after serving is within 16 MB of before.
 *
 * While the clients sync, an over-limit phase sends requests beyond each limit in docs/protocol.md
 * (too many hashes, headers, code hashes; a malformed message; an oversize frame; an endless length
 * prefix; too many streams per peer; too many requests per second; a burst of new connections from
 * one host) and checks each gets the documented reply; every honest client must still complete a
 * verified sync of the whole state, and the server must answer afterwards.
 *
 * Env: BENCH_ACCOUNTS (default 100000), BENCH_CLIENTS (default 16), BENCH_PER_PROC (clients per
 * child process, default 4), BENCH_ABUSE=0 skips the over-limit phase, BENCH_PROFILE=1 runs the
 * server under --cpu-prof and prints its top functions.
 */
import '../src/node/polyfills.ts'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { equals, fromHex } from '../src/core/bytes.ts'
import { useWasmKeccak } from '../src/core/hash.ts'
import { readSyncedRoot, syncToState } from '../src/core/sync/state-sync.ts'
import { PeerClient } from '../src/net/client.ts'
import { syncPeerOf } from '../src/net/sync-peer.ts'
import { createClientLibp2p } from '../src/node/libp2p.ts'
import { realClock } from '../src/platform/clock.ts'
import { buildDevnetState, type ServeProcess, startServe, stopServe } from './devnet-state.ts'
import { ExternalNodeStore, fmtMs, fmtNum, fmtRatio, loadAvg, MB, note, printTable } from './lib.ts'
import { type CpuProfile, profileRows, shortUrl } from './profile.ts'
import { type OverLimitCheck, overLimitPhase } from './serve-limits.ts'

const SELF = fileURLToPath(import.meta.url)
const FAIRNESS_GOAL = 0.5
const FLAT_MB = 16

// ---- child: a few clients, each a full verified sync ----------------------------------------------

interface ChildArgs {
  ws: string
  root: string
  clients: number
}

interface ClientResult {
  nodes: number
  bytes: number
  /** Epoch ms (performance.timeOrigin + now) when the sync started and ended. */
  start: number
  end: number
  verified: boolean
  requests: number
  errors: number
  timeouts: number
}

const epochMs = (): number => performance.timeOrigin + performance.now()
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A client connected to the server; retried because libp2p admits 5 new connections/s per host. */
async function connect(
  ws: string,
): Promise<{ node: Awaited<ReturnType<typeof createClientLibp2p>>; peer: PeerClient }> {
  const node = await createClientLibp2p()
  const peer = new PeerClient(node, multiaddr(ws), { timeoutMs: 30_000 })
  for (let attempt = 0; ; attempt++) {
    try {
      await peer.status()
      return { node, peer }
    } catch (e) {
      if (attempt >= 30) throw e
      await sleep(400)
    }
  }
}

async function child(a: ChildArgs): Promise<void> {
  await useWasmKeccak()
  const root = fromHex(a.root)
  const clients = []
  for (let i = 0; i < a.clients; i++) clients.push(await connect(a.ws))
  process.stdout.write('READY\n')
  await new Promise<void>((r) => {
    const rl = createInterface({ input: process.stdin })
    rl.once('line', () => {
      rl.close()
      r()
    })
  })
  note(`clients: go`)
  const cpu0 = process.cpuUsage()
  const results = await Promise.all(
    clients.map(async ({ peer }) => {
      const store = new ExternalNodeStore()
      const start = epochMs()
      const r = await syncToState(root, 0, { clock: realClock, store, peers: [syncPeerOf(peer, 'server')] })
      const end = epochMs()
      note(`client synced ${r.nodes} nodes`)
      const synced = await readSyncedRoot(store)
      const p = r.peers[0]
      const out: ClientResult = {
        nodes: r.nodes,
        bytes: r.bytes,
        start,
        end,
        verified: synced !== null && equals(synced.root, root),
        requests: p?.requests ?? 0,
        errors: p?.errors ?? 0,
        timeouts: p?.timeouts ?? 0,
      }
      return out
    }),
  )
  const cpu = process.cpuUsage(cpu0)
  for (const { node, peer } of clients) {
    peer.close()
    await node.stop()
  }
  process.stdout.write(`CHILD_RESULT ${JSON.stringify({ results, cpuUs: cpu.user + cpu.system })}\n`)
}

// ---- the server and its memory probe ------------------------------------------------------------------

/** Loaded into the server process: memory and CPU samples as JSON lines on fd 3; SIGUSR2 = GC + sample. */
const PROBE = `import { writeSync } from 'node:fs'
const out = (tag) => {
  const m = process.memoryUsage(); const c = process.cpuUsage()
  try { writeSync(3, JSON.stringify({ tag, t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, external: m.external, cpuUs: c.user + c.system }) + '\\n') } catch {}
}
setInterval(() => out('tick'), 250).unref()
process.on('SIGUSR2', () => { globalThis.gc?.(); globalThis.gc?.(); out('live') })`

interface Sample {
  tag: 'tick' | 'live'
  t: number
  rss: number
  heapUsed: number
  external: number
  cpuUs: number
}

interface Server extends ServeProcess {
  samples: Sample[]
  /** Asks the probe for a sample after a full GC. */
  live(): Promise<Sample>
  /** The next sample (CPU time included). */
  now(): Promise<Sample>
}

async function startServer(dataDir: string, profDir?: string): Promise<Server> {
  const flags = ['--expose-gc', '--import', `data:text/javascript,${encodeURIComponent(PROBE)}`]
  if (profDir) flags.push('--cpu-prof', '--cpu-prof-dir', profDir)
  const s = await startServe(dataDir, flags, ['ignore', 'pipe', 'ignore', 'pipe'])
  const samples: Sample[] = []
  const waiters: ((x: Sample) => void)[] = []
  createInterface({ input: s.proc.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => {
    const x = JSON.parse(l) as Sample
    samples.push(x)
    for (const w of waiters.splice(0)) w(x)
  })
  const next = (tag?: Sample['tag']): Promise<Sample> =>
    new Promise((resolve) => {
      const w = (x: Sample) => (tag && x.tag !== tag ? waiters.push(w) : resolve(x))
      waiters.push(w)
    })
  return {
    ...s,
    samples,
    live: () => {
      const x = next('live')
      s.proc.kill('SIGUSR2')
      return x
    },
    now: () => next(),
  }
}

// ---- the clients' processes ---------------------------------------------------------------------------

interface Proc {
  proc: ChildProcess
  ready: Promise<void>
  done: Promise<{ results: ClientResult[]; cpuUs: number }>
}

function spawnClients(args: ChildArgs): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', SELF], {
    env: { ...process.env, BENCH_SERVE_LOAD_CHILD: JSON.stringify(args) },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  let onReady = () => {}
  const ready = new Promise<void>((r) => {
    onReady = r
  })
  const done = new Promise<{ results: ClientResult[]; cpuUs: number }>((resolve, reject) => {
    let result: { results: ClientResult[]; cpuUs: number } | null = null
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (l === 'READY') onReady()
      else if (l.startsWith('CHILD_RESULT ')) result = JSON.parse(l.slice('CHILD_RESULT '.length))
      else process.stderr.write(`[clients] ${l}\n`)
    })
    proc.once('exit', (code) =>
      code === 0 && result ? resolve(result) : reject(new Error(`client process exited with ${code}`)),
    )
  })
  return { proc, ready, done }
}

// ---- profile ------------------------------------------------------------------------------------------

/** Self time per function over the server's busiest profile (the main thread's). */
function printServerProfile(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  let best: { self: Map<string, number>; busy: number } | null = null
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile
    const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
    const self = new Map<string, number>()
    let busy = 0
    p.samples.forEach((id, i) => {
      const cf = byId.get(id)!
      if (cf.functionName === '(idle)' || cf.functionName === '(program)') return
      const ms = (p.timeDeltas[i] ?? 0) / 1000
      busy += ms
      const key = `${cf.functionName || '(anonymous)'}\t${shortUrl(cf.url)}:${cf.lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + ms)
    })
    if (!best || busy > best.busy) best = { self, busy }
  }
  if (!best) return
  printTable(
    `server CPU profile — top 25 by self time, ${fmtMs(best.busy)} busy (idle and (program) excluded)`,
    ['function', 'where', 'self ms', '% of busy'],
    profileRows(best.self, best.busy)
      .slice(0, 25)
      .map((r) => [r.fn, r.where, fmtNum(r.selfMs), r.pct.toFixed(1)]),
  )
}

// ---- parent -------------------------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const mb = (b: number): string => (b / MB).toFixed(0)

async function main(): Promise<void> {
  const accounts = Number(process.env.BENCH_ACCOUNTS ?? 100_000)
  const clientsTotal = Number(process.env.BENCH_CLIENTS ?? 16)
  const perProc = Number(process.env.BENCH_PER_PROC ?? 4)
  const abuse = process.env.BENCH_ABUSE !== '0'
  const profile = process.env.BENCH_PROFILE === '1'
  const loadStart = loadAvg()
  await useWasmKeccak()
  const dir = mkdtempSync(join(tmpdir(), 'rootsync-bench-serve-load-'))
  const profDir = profile ? join(dir, 'prof') : undefined
  if (profDir) mkdirSync(profDir)
  let server: Server | null = null
  const procs: Proc[] = []
  try {
    note(`building the devnet state: ${fmtNum(accounts)} accounts`)
    const state = await buildDevnetState(dir, accounts, 'bench-sync')
    server = await startServer(state.dataDir, profDir)
    const liveStart = await server.live()
    note(`server up; live heap ${mb(liveStart.heapUsed)} MB, RSS ${mb(liveStart.rss)} MB`)

    for (let left = clientsTotal; left > 0; left -= perProc)
      procs.push(spawnClients({ ws: server.ws, root: state.root, clients: Math.min(perProc, left) }))
    await Promise.all(procs.map((p) => p.ready))
    note(`${clientsTotal} clients connected in ${procs.length} processes; syncing…`)

    const s0 = await server.now()
    const first = server.samples.length
    for (const p of procs) p.proc.stdin!.end('GO\n')
    const checks: Promise<OverLimitCheck[]> = abuse ? overLimitPhase(server.ws) : Promise.resolve([])
    const outs = await Promise.all(procs.map((p) => p.done))
    const s1 = await server.now()
    const during = server.samples.slice(first)
    const limits = await checks
    const afterNode = await createClientLibp2p()
    const after = new PeerClient(afterNode, multiaddr(server.ws))
    const answersAfter = await after.status().then(
      () => true,
      () => false,
    )
    after.close()
    await afterNode.stop()
    await sleep(1000) // let closed connections' buffers go before the end sample
    const liveEnd = await server.live()
    const loadEnd = loadAvg()

    const results = outs.flatMap((o) => o.results)
    const clientCpuUs = outs.reduce((a, o) => a + o.cpuUs, 0)
    const rates = results.map((r) => r.nodes / ((r.end - r.start) / 1000))
    const totalNodes = results.reduce((a, r) => a + r.nodes, 0)
    const wallMs = Math.max(...results.map((r) => r.end)) - Math.min(...results.map((r) => r.start))
    const aggregate = totalNodes / (wallMs / 1000)
    const fairness = Math.min(...rates) / Math.max(...rates)
    const serverCpuUs = s1.cpuUs - s0.cpuUs
    const allVerified = results.every((r) => r.verified) && new Set(results.map((r) => r.nodes)).size === 1
    const peak = (k: 'rss' | 'heapUsed'): number => Math.max(...during.map((s) => s[k]))
    const growthMB = (liveEnd.heapUsed - liveStart.heapUsed) / MB
    const flat = growthMB <= FLAT_MB
    const limitsOk = limits.every((c) => c.ok)

    printTable(
      `bench:serve-load — ${clientsTotal} clients × full verified sync of ${fmtNum(accounts)} accounts (${fmtNum(results[0]!.nodes)} nodes each) from one \`rootsync serve\`; load avg ${loadStart} → ${loadEnd}`,
      ['measure', 'figure', 'floor / goal', 'ratio'],
      [
        ['aggregate verified nodes/s', fmtNum(aggregate), '', ''],
        [
          'per-client nodes/s min / median / max',
          `${fmtNum(Math.min(...rates))} / ${fmtNum(median(rates))} / ${fmtNum(Math.max(...rates))}`,
          '',
          '',
        ],
        [
          'fairness (slowest / fastest)',
          fairness.toFixed(2),
          `≥ ${FAIRNESS_GOAL}`,
          fmtRatio(fairness / FAIRNESS_GOAL),
        ],
        [
          'all clients verified the whole state',
          String(allVerified),
          'true',
          allVerified ? 'MET' : 'NOT MET',
        ],
        ['server CPU per node served', `${(serverCpuUs / totalNodes).toFixed(2)} µs`, '', ''],
        ['clients CPU per node (all processes)', `${(clientCpuUs / totalNodes).toFixed(2)} µs`, '', ''],
        ['server cores busy during the run', (serverCpuUs / 1000 / wallMs).toFixed(2), '', ''],
        [
          'server RSS start / peak / end (MB)',
          `${mb(liveStart.rss)} / ${mb(peak('rss'))} / ${mb(liveEnd.rss)}`,
          '',
          '',
        ],
        [
          'server heapUsed start / peak / end (MB)',
          `${mb(liveStart.heapUsed)} / ${mb(peak('heapUsed'))} / ${mb(liveEnd.heapUsed)}`,
          '',
          '',
        ],
        [
          'server live heap growth after GC (MB)',
          growthMB.toFixed(1),
          `≤ ${FLAT_MB}`,
          flat ? 'MET' : 'NOT MET',
        ],
        [
          'over-limit requests got the documented reply',
          abuse ? `${limits.filter((c) => c.ok).length} / ${limits.length}` : 'skipped',
          abuse ? `${limits.length} / ${limits.length}` : '',
          abuse ? (limitsOk ? 'MET' : 'NOT MET') : '',
        ],
        ['server answers after the run', String(answersAfter), 'true', answersAfter ? 'MET' : 'NOT MET'],
      ],
    )
    if (abuse)
      printTable(
        'over-limit phase (while the clients sync)',
        ['limit', 'sent', 'documented reply', 'observed', 'ok'],
        limits.map((c) => [c.limit, c.sent, c.expected, c.observed, c.ok ? 'yes' : 'NO']),
      )
    console.log(
      `\nclient requests: ${results.map((r) => r.requests).join(', ')}; errors ${results.reduce((a, r) => a + r.errors, 0)}, timeouts ${results.reduce((a, r) => a + r.timeouts, 0)}; wall ${fmtMs(wallMs)}`,
    )
    const goalsMet = fairness >= FAIRNESS_GOAL && allVerified && flat && (!abuse || limitsOk) && answersAfter
    console.log(`goals: ${goalsMet ? 'MET' : 'NOT MET'}`)
    console.log(
      `BENCH_JSON ${JSON.stringify({
        bench: 'serve-load',
        accounts,
        clients: clientsTotal,
        nodesPerClient: results[0]!.nodes,
        loadAvg: [loadStart, loadEnd],
        aggregate,
        rates,
        fairness,
        serverCpuUsPerNode: serverCpuUs / totalNodes,
        clientCpuUsPerNode: clientCpuUs / totalNodes,
        server: { liveStart, liveEnd, peakRss: peak('rss'), peakHeap: peak('heapUsed') },
        limits,
        allVerified,
        answersAfter,
      })}`,
    )
    if (!allVerified) process.exitCode = 1
    await stopServe(server)
    if (profDir) printServerProfile(profDir)
  } finally {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL')
    if (server) await stopServe(server)
    rmSync(dir, { recursive: true, force: true })
  }
}

const childArgs = process.env.BENCH_SERVE_LOAD_CHILD
if (childArgs) await child(JSON.parse(childArgs) as ChildArgs)
else await main()
