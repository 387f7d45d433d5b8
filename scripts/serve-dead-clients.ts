/**
 * Reproduction tool for serving nodes and clients that die abruptly: starts one producing
 * `rootsync serve` node (WebSockets + WebRTC-direct, metrics on), then runs CLIENTS `rootsync recover
 * --latest` processes one after another, SIGKILLing most of them at a random point (the others exit
 * on their own, as one-shot commands do with process.exit()). Every EVERY clients it prints the
 * node's open connection count (from its metrics) and whether the last client was served; a last
 * client runs to its end and must recover.
 *
 *   node --import tsx scripts/serve-dead-clients.ts [CLIENTS=200] [EVERY=10]
 *
 * Environment: DEBUG is passed to the node (e.g. DEBUG='libp2p:connection-manager*' prints libp2p's
 * refusals and pruning on its stderr, copied here with a `node:` prefix when SHOW_NODE=1; the clients'
 * stderr with SHOW_CLIENT=1). BLOCK_TIME_MS (default 400) and START_HEAD (default 0: clients start at
 * once) shape the chain the clients verify.
 */
import '../src/node/polyfills.ts'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { toHex } from '../src/core/bytes.ts'
import { generateDevnet, keysFileJson } from '../src/core/chain/devnet.ts'
import { genesisToJson } from '../src/core/chain/genesis.ts'
import { createRng } from '../src/core/chain/rng.ts'
import { genesisBootstrap } from '../src/node/commands/devnet.ts'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const BIN = join(ROOT, 'bin', 'rootsync.js')
const CLIENTS = Number(process.argv[2] ?? 200)
const EVERY = Number(process.argv[3] ?? 10)
/** Kill points are drawn in [0, SPREAD_MS) after the recovery started. */
const SPREAD_MS = Number(process.env.SPREAD_MS ?? 1500)

const dir = mkdtempSync(join(tmpdir(), 'rootsync-dead-clients-'))
// Dated now: light clients refuse a checkpoint older than their trusting period.
const { genesis, keys } = generateDevnet({
  seed: 'dead-clients',
  accounts: 3000,
  contracts: 20,
  slots: 10,
  timestamp: Math.floor(Date.now() / 1000),
})
writeFileSync(join(dir, 'genesis.json'), JSON.stringify(genesisToJson(genesis)))
writeFileSync(
  join(dir, 'keys.json'),
  JSON.stringify(keysFileJson({ keys, seed: 'dead-clients', rotateEvery: 0 })),
)

const node = spawn(
  process.execPath,
  [
    BIN,
    'serve',
    '--data',
    join(dir, 'node'),
    '--genesis',
    join(dir, 'genesis.json'),
    '--produce',
    join(dir, 'keys.json'),
    '--block-time',
    process.env.BLOCK_TIME_MS ?? '400',
    '--txs',
    '4',
    '--metrics',
    '127.0.0.1:0',
    // Every state since the clients started stays served, however fast the chain moves.
    '--retain',
    '5000',
  ],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
)
process.on('exit', () => node.kill('SIGKILL'))
createInterface({ input: node.stderr! }).on('line', (l) => {
  if (process.env.SHOW_NODE) console.log(`node: ${l}`)
})
let head = 0
const ready = await new Promise<{ peerId: string; addrs: string[]; metrics: string; genesisHash: string }>(
  (res) =>
    createInterface({ input: node.stdout! }).on('line', (l) => {
      const e = JSON.parse(l)
      if (e.event === 'ready') res(e)
      if (e.event === 'head') head = e.number
    }),
)
// START_HEAD: clients start once the chain is this high (a client verifies every header from genesis).
while (head < Number(process.env.START_HEAD ?? 0)) await new Promise((r) => setTimeout(r, 200))
const bootstrap = join(dir, 'bootstrap.json')
writeFileSync(
  bootstrap,
  JSON.stringify(
    genesisBootstrap(genesis.chainId, ready.genesisHash, genesis.validators.map(toHex), [
      { name: 'node', peerId: ready.peerId, addrs: ready.addrs },
    ]),
  ),
)
console.log(`node ${ready.peerId} ${ready.addrs.join(' ')}; metrics ${ready.metrics}`)

/** The node's gauges named `rootsync_peers` / `rootsync_connections*` (as exposed). */
async function gauges(): Promise<string> {
  const text = await (await fetch(ready.metrics)).text()
  return text
    .split('\n')
    .filter((l) => /^rootsync_(peers|connections)/.test(l))
    .join(' ')
}

/**
 * One `rootsync recover --strategies snapshot --latest` into an empty directory (as
 * test/node/recover-kill.test.ts runs them), SIGKILLed `killAfterMs` after it printed that the
 * recovery started, i.e. while it downloads (Infinity: runs to its end).
 */
function client(killAfterMs: number): Promise<{ code: number | null; killed: boolean; stderr: string }> {
  return new Promise((res) => {
    const data = mkdtempSync(join(dir, 'client-'))
    const c = spawn(
      process.execPath,
      [BIN, 'recover', '--data', data, '--bootstrap', bootstrap, '--latest', '--strategies', 'snapshot'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    let killed = false
    let t: NodeJS.Timeout | undefined
    createInterface({ input: c.stderr! }).on('line', (l) => {
      stderr += `${l}\n`
      if (t || !Number.isFinite(killAfterMs) || !l.startsWith('recovering the state at block')) return
      t = setTimeout(() => (killed = c.exitCode === null && c.kill('SIGKILL')), killAfterMs)
    })
    const guard = setTimeout(() => c.kill('SIGKILL'), 60_000)
    c.on('close', (code) => {
      if (process.env.SHOW_CLIENT) console.log(stderr.replace(/^/gm, 'client: '))
      clearTimeout(t)
      clearTimeout(guard)
      res({ code, killed, stderr })
    })
  })
}

const rng = createRng('dead-clients')
let failures = 0
const started = performance.now()
for (let i = 1; i <= CLIENTS; i++) {
  const r = await client(i % 5 === 0 ? Number.POSITIVE_INFINITY : rng.int(SPREAD_MS))
  if (!r.killed && r.code !== 0) {
    failures++
    console.log(`client ${i}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`)
  }
  if (i % EVERY === 0)
    console.log(
      `${i} clients (${Math.round((performance.now() - started) / 1000)} s, ${failures} failed): ${await gauges()}`,
    )
}
const last = await client(Number.POSITIVE_INFINITY)
console.log(`last client: exit ${last.code}${last.code ? `: ${last.stderr.trim()}` : ''}`)
console.log(`gauges now: ${await gauges()}`)
node.kill('SIGTERM')
process.exit(last.code === 0 && failures === 0 ? 0 : 1)
