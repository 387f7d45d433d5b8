/**
 * bench:consistency — what one consistency check costs an idle, synced client (issue 11, item 6):
 * a real 3-node devnet (`rootsync serve` processes: a producer and two followers, loopback
 * WebSockets), a data directory synced with `rootsync sync`, and then checks with the default
 * settings (3 peers, 32 accounts, their slots) run IN this process through the same driver as
 * `rootsync check` (core/light/check-once.ts), so the CPU time measured (process.cpuUsage) is the
 * check's own, not a process start-up's. Bytes are the wire payloads sent and received (requests and
 * replies as the codec encodes them, counted at the wire client; framing and libp2p overhead not
 * included). The baseline, in the same run and the same way: one status round to the same 3 peers.
 *
 * Each run uses a fresh session (the stored head is re-checked, no header chain is fetched: it is at
 * the state's height) and a fresh libp2p client (each run dials the peers, as a CLI run does).
 *
 * Flags: --accounts N (20000), --contracts M (50), --slots K (20), --runs R (3), --keep.
 */
import '../src/node/polyfills.ts'
import { rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { createRng } from '../src/core/chain/rng.ts'
import { DEFAULT_CONSISTENCY_OPTIONS } from '../src/core/consistency/types.ts'
import { useWasmKeccak } from '../src/core/hash.ts'
import { checkOnce } from '../src/core/light/check-once.ts'
import { checkpointOf } from '../src/core/light/config.ts'
import { createLedger, statusRound } from '../src/core/light/peers.ts'
import type * as wire from '../src/core/protocol/messages.ts'
import { strategiesNamed } from '../src/core/recovery/strategies.ts'
import { PeerClient } from '../src/net/client.ts'
import { readBootstrap } from '../src/node/commands/usage.ts'
import { createClientLibp2p } from '../src/node/libp2p.ts'
import { realClock } from '../src/platform/clock.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'
import { runCli } from '../test/helpers/cli.ts'
import { makeDevnetFiles, type NodeProc, nodesBootstrap, startNode, stopNode } from '../test/helpers/nodes.ts'
import { fmtMs, fmtNum, note, printTable } from './lib.ts'

/** A wire client that counts the payload bytes it sends and receives. */
class CountingClient extends PeerClient {
  static sent = 0
  static received = 0
  override async request(name: wire.ProtocolName, bytes: Uint8Array, signal?: AbortSignal) {
    CountingClient.sent += bytes.length
    const reply = await super.request(name, bytes, signal)
    CountingClient.received += reply.length
    return reply
  }
}

interface Row {
  run: string
  ok: boolean
  wallMs: number
  cpuMs: number
  sent: number
  received: number
  detail: string
}

/** Runs `work` with a fresh libp2p client and counting wire clients to `addrs`; measures it. */
async function measured(
  run: string,
  addrs: string[],
  work: (peers: { id: string; wire: PeerClient }[]) => Promise<{ ok: boolean; detail: string }>,
): Promise<Row> {
  const node = await createClientLibp2p()
  const clients = addrs.map((a) => new CountingClient(node, multiaddr(a), { timeoutMs: 15_000 }))
  const peers = clients.map((c) => ({ id: c.id.split('/p2p/').pop()!, wire: c }))
  try {
    CountingClient.sent = 0
    CountingClient.received = 0
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const { ok, detail } = await work(peers)
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    return {
      run,
      ok,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      sent: CountingClient.sent,
      received: CountingClient.received,
      detail,
    }
  } finally {
    for (const c of clients) c.close()
    await node.stop()
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      accounts: { type: 'string', default: '20000' },
      contracts: { type: 'string', default: '50' },
      slots: { type: 'string', default: '20' },
      runs: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
    },
  })
  await useWasmKeccak()
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}, Node ${process.version}`
  const accounts = Number(values.accounts)
  note(
    `generating the devnet: ${fmtNum(accounts)} accounts, ${values.contracts} contracts × ${values.slots} slots`,
  )
  const files = makeDevnetFiles({
    seed: 'bench-consistency',
    accounts,
    contracts: Number(values.contracts),
    slots: Number(values.slots),
  })
  const dir = files.dir
  const servers: NodeProc[] = []
  const rows: Row[] = []
  let height = 0
  const loadStart = load()
  try {
    const common = ['--genesis', files.genesisFile, '--retain', '100000']
    note('starting the producer and 2 followers')
    const producer = await startNode('node-0', join(dir, 'node-0'), [
      ...common,
      '--produce',
      files.keysFile,
      '--block-time',
      '1000',
      '--txs',
      '20',
    ])
    servers.push(producer)
    for (const i of [1, 2])
      servers.push(await startNode(`node-${i}`, join(dir, `node-${i}`), [...common, '--follow', producer.ws]))
    const boot = join(dir, 'bootstrap.json')
    const genesisHash = (producer.ready as unknown as { genesisHash: string }).genesisHash
    writeFileSync(boot, JSON.stringify(nodesBootstrap(files, genesisHash, servers)))
    await Promise.all(servers.map((s) => s.waitHead(3, 120_000)))
    const data = join(dir, 'client')
    note('syncing the client (rootsync sync --latest)')
    const s = await runCli(['sync', '--data', data, '--bootstrap', boot, '--latest', '--json'], {
      timeoutMs: 600_000,
    })
    if (s.code !== 0) throw new Error(`sync failed: ${s.stderr}`)
    height = JSON.parse(s.stdout).height
    const config = await readBootstrap(boot)
    const addrs = servers.map((n) => n.ws)
    const store = await LevelNodeStore.open(join(data, 'db'))
    try {
      note(`load avg before the runs: ${load()}`)
      const runs = Number(values.runs)
      for (let i = 0; i < runs; i++) {
        rows.push(
          await measured('status round (baseline)', addrs, async (peers) => {
            const cp = checkpointOf(config)
            const got = await statusRound(
              peers,
              createLedger(() => {}),
              realClock,
              new AbortController().signal,
              {
                chainId: cp.chainId,
                timeoutMs: 10_000,
                graceMs: 2000,
              },
            )
            return { ok: got.length === peers.length, detail: `${got.length} answered` }
          }),
        )
        const rng = createRng(`bench-${i}`)
        rows.push(
          await measured(`check ${i + 1}`, addrs, async (peers) => {
            const task = checkOnce(
              {
                config,
                store,
                peers: { list: () => peers },
                clock: realClock,
                emit: () => {},
              },
              {
                consistency: { ...DEFAULT_CONSISTENCY_OPTIONS, intervalMs: 0 },
                random: () => rng.u32() / 0x1_0000_0000,
                watched: [],
                strategies: strategiesNamed(['local', 'peer']),
                now: () => Date.now(),
                onConsistency: () => {},
              },
            )
            const { result: r } = await task.done
            const clean = r.discrepancies.length === 0
            return {
              ok: clean,
              detail: `${r.summary}; ${r.accountMatches}/${r.sampled} paths confirmed, ${r.peers.length} peers`,
            }
          }),
        )
      }
    } finally {
      await store.close()
    }
  } finally {
    await Promise.all(servers.map((n) => stopNode(n)))
    if (!values.keep) rmSync(dir, { recursive: true, force: true })
  }
  printTable(
    `bench:consistency — ${fmtNum(accounts)} accounts (${values.contracts} contracts × ${values.slots} slots), state at block ${height}; default check (${DEFAULT_CONSISTENCY_OPTIONS.peers} peers, ${DEFAULT_CONSISTENCY_OPTIONS.accounts} accounts, ${DEFAULT_CONSISTENCY_OPTIONS.slotsPerAccount} slots each); ${machine}; load avg ${loadStart} at start, ${load()} at end`,
    ['run', 'ok', 'wall', 'CPU', 'KB sent', 'KB received', 'detail'],
    rows.map((r) => [
      r.run,
      r.ok ? 'yes' : 'NO',
      fmtMs(r.wallMs),
      fmtMs(r.cpuMs),
      fmtNum(r.sent / 1000, 1),
      fmtNum(r.received / 1000, 1),
      r.detail,
    ]),
  )
  console.log(
    '\nCPU is this process (user + system) for the run, including dialing the 3 peers; bytes are wire payloads (requests, replies) without framing or libp2p overhead.',
  )
}

await main()
process.exit(0)
