/**
 * Real serving nodes as separate processes (`rootsync serve`), for integration tests: a temporary
 * devnet genesis, a producer and followers, their JSON events, and cleanup.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { toHex } from '../../src/core/bytes.ts'
import { type DevnetOptions, generateDevnet, keysFileJson } from '../../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot, genesisToJson } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { pickAddr } from '../../src/core/light/config.ts'
import { genesisBootstrap } from '../../src/node/commands/devnet.ts'
import { CLI, ROOT, scriptArgv } from './cli.ts'

export interface NodeEvent {
  event: string
  [k: string]: unknown
}

export interface NodeProc {
  name: string
  dataDir: string
  child: ChildProcess
  ready: {
    peerId: string
    addrs: string[]
    metrics?: string
    /** The head at start, with the validator set (0x addresses) that signs it. */
    head: { number: number; hash: string; stateRoot: string; validators: string[] }
  }
  heads: { number: number; hash: string; stateRoot: string; at: number }[]
  stderr: string[]
  /** Other JSON events the process printed (e.g. corrupt-serve.ts's `corrupted`). */
  events: NodeEvent[]
  ws: string
  waitHead(n: number, timeoutMs?: number): Promise<{ number: number; stateRoot: string; at: number }>
}

/**
 * A devnet's genesis.json and keys.json in a new temporary directory. `rotateEvery` (default 0: never)
 * goes into keys.json, so a producer started on it rotates a validator every that many blocks.
 */
export function makeDevnetFiles(opts: Partial<DevnetOptions> & { rotateEvery?: number } = {}) {
  const { rotateEvery = 0, ...devnet } = opts
  const dir = mkdtempSync(join(tmpdir(), 'rootsync-nodes-'))
  const seed = devnet.seed ?? 'nodes-test'
  const { genesis, keys } = generateDevnet({
    seed,
    accounts: 2000,
    contracts: 20,
    slots: 10,
    // A recent genesis: light clients refuse a checkpoint older than the trusting period.
    timestamp: Math.floor(Date.now() / 1000),
    ...devnet,
  })
  const genesisFile = join(dir, 'genesis.json')
  const keysFile = join(dir, 'keys.json')
  writeFileSync(genesisFile, JSON.stringify(genesisToJson(genesis)))
  writeFileSync(keysFile, JSON.stringify(keysFileJson({ keys, seed, rotateEvery })))
  return { dir, genesis, keys, seed, rotateEvery, genesisFile, keysFile }
}

const running = new Set<ChildProcess>()

/** A test serving script run instead of `rootsync serve` (same arguments and stdout events). */
export const CORRUPT_SERVE = join(ROOT, 'test', 'helpers', 'corrupt-serve.ts')

/**
 * Starts `rootsync serve --data dataDir ...args`, or with `script`, `node script --data dataDir
 * ...args` (a test serving script that prints the same JSON events; bundled, see `scriptArgv`).
 */
export function startNode(
  name: string,
  dataDir: string,
  args: string[],
  opts: { script?: string } = {},
): Promise<NodeProc> {
  const argv = opts.script
    ? [...scriptArgv(opts.script), '--data', dataDir, ...args]
    : [CLI, 'serve', '--data', dataDir, ...args]
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  const heads: NodeProc['heads'] = []
  const stderr: string[] = []
  const events: NodeEvent[] = []
  const waiters: (() => void)[] = []
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} not ready in 60 s:\n${stderr.slice(-20).join('\n')}`)),
      60_000,
    )
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code}:\n${stderr.slice(-20).join('\n')}`))
    })
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = JSON.parse(line) as NodeEvent
      if (e.event === 'head') {
        heads.push({
          number: e.number as number,
          hash: e.hash as string,
          stateRoot: e.stateRoot as string,
          at: Date.now(),
        })
        for (const w of waiters.splice(0)) w()
      } else if (e.event === 'ready') {
        clearTimeout(timer)
        const ready = e as unknown as NodeProc['ready']
        const proc: NodeProc = {
          name,
          dataDir,
          child,
          ready,
          heads,
          stderr,
          events,
          ws: pickAddr(ready, 'websocket')!,
          waitHead(n, timeoutMs = 30_000) {
            return new Promise((res, rej) => {
              const t = setTimeout(
                () => rej(new Error(`${name}: head ${n} not reached in ${timeoutMs} ms`)),
                timeoutMs,
              )
              const check = () => {
                const h = heads.find((x) => x.number >= n)
                if (h) {
                  clearTimeout(t)
                  res(h)
                } else waiters.push(check)
              }
              check()
            })
          },
        }
        resolve(proc)
      } else events.push(e)
    })
  })
}

export async function stopNode(p: NodeProc, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode
  return new Promise((res) => {
    p.child.once('exit', (code) => res(code))
    p.child.kill(signal)
  })
}

export async function stopAllNodes(): Promise<void> {
  await Promise.all(
    [...running].map(
      (c) =>
        new Promise<void>((res) => {
          c.once('exit', () => res())
          c.kill('SIGKILL')
        }),
    ),
  )
}

/** bootstrap.json for these nodes of this devnet, checkpoint at genesis (as `rootsync devnet` writes it). */
export function nodesBootstrap(
  files: ReturnType<typeof makeDevnetFiles>,
  genesisHash: string,
  nodes: NodeProc[],
) {
  return genesisBootstrap(
    files.genesis.chainId,
    genesisHash,
    files.genesis.validators.map(toHex),
    nodes.map((n) => ({ name: n.name, peerId: n.ready.peerId, addrs: n.ready.addrs })),
  )
}

export type DevnetFiles = ReturnType<typeof makeDevnetFiles>

/** The devnet's genesis hash (0x…): the checkpoint a bootstrap file names. */
export const genesisHashOf = (files: DevnetFiles): string =>
  toHex(headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis))))

/**
 * Writes bootstrap.json for `nodes` into `dir` (created if needed) and returns its path. A
 * genesis.json beside it (as in `files.dir`) lets block replay start from genesis.
 */
export function writeNodesBootstrap(dir: string, files: DevnetFiles, nodes: NodeProc[]): string {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'bootstrap.json')
  writeFileSync(file, JSON.stringify(nodesBootstrap(files, genesisHashOf(files), nodes)))
  return file
}

export interface DevnetNodesOptions {
  /** Nodes following the producer (default 1). */
  followers?: number
  blockTime?: number
  txs?: number
  /** States each node keeps (default 5000: nothing is pruned during a test). */
  retain?: number
}

/**
 * A moving devnet of real `rootsync serve` processes: a producer (the devnet's validator keys,
 * `node-0`) and `followers` nodes following it (`node-1`…), all on `files`' genesis.
 */
export async function startDevnetNodes(files: DevnetFiles, o: DevnetNodesOptions = {}): Promise<NodeProc[]> {
  const common = ['--genesis', files.genesisFile, '--retain', String(o.retain ?? 5000)]
  const producer = await startNode('producer', join(files.dir, 'node-0'), [
    ...common,
    '--produce',
    files.keysFile,
    '--block-time',
    String(o.blockTime ?? 400),
    '--txs',
    String(o.txs ?? 8),
  ])
  const followers: NodeProc[] = []
  for (let i = 1; i <= (o.followers ?? 1); i++)
    followers.push(
      await startNode(`follower-${i}`, join(files.dir, `node-${i}`), [...common, '--follow', producer.ws]),
    )
  return [producer, ...followers]
}
