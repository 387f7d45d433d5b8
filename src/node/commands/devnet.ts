/**
 * `rootsync devnet`: a local chain for development. Creates (or resumes) a deterministic genesis and
 * validator keys in DIR, then runs P serving nodes as separate processes with their own stores and
 * identities: node-0 produces signed blocks, the others follow it over the wire protocol. Writes
 * DIR/bootstrap.json (peers, chain id, checkpoint) for the web app; Ctrl-C stops everything.
 *
 * `--rotate-every N` replaces one validator every N blocks (core/chain/devnet.ts's rule, keys from
 * the seed). N and the seed are kept in DIR/keys.json, which node-0 reads: a devnet rotates the same
 * way for its whole life. A new devnet's genesis is dated now. The checkpoint in bootstrap.json is
 * the genesis while it is recent; once the genesis is older than a day (a resumed devnet), it is
 * node-0's head at start, with the validator set that signs it, so light clients always get a
 * checkpoint well inside their trusting period.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { toHex } from '../../core/bytes.ts'
import { generateDevnet, keysFileJson, parseKeysFile } from '../../core/chain/devnet.ts'
import { genesisToJson, parseGenesis } from '../../core/chain/genesis.ts'
import { RootsyncError } from '../../core/errors.ts'
import { type BootstrapConfig, type PeerEntry, pickAddr } from '../../core/light/config.ts'
import { intOption, readJson, UsageError } from './usage.ts'

export const DEVNET_USAGE = `rootsync devnet [--accounts N] [--contracts M] [--slots K] [--peers P] [--block-time MS]
                [--txs N] [--seed S] [--data DIR] [--retain N] [--rotate-every N]`

const BIN = fileURLToPath(new URL('../../../bin/rootsync.js', import.meta.url))

/** The light client's configuration (core/light/config.ts), with what the devnet adds for people. */
export interface Bootstrap extends BootstrapConfig {
  peers: (PeerEntry & { metrics?: string })[]
  updatedAt: string
}

/** A bootstrap.json whose checkpoint is the genesis header (what a devnet, and its tests, write). */
export function genesisBootstrap(
  chainId: number,
  genesisHash: string,
  validators: string[],
  peers: Bootstrap['peers'],
): Bootstrap {
  return {
    chainId,
    genesisHash,
    checkpoint: { number: 0, hash: genesisHash },
    validators,
    peers,
    updatedAt: new Date().toISOString(),
  }
}

/** A genesis older than this is no longer handed out as the checkpoint (trusting periods are ~weeks). */
export const CHECKPOINT_MAX_AGE_SEC = 86_400

/**
 * bootstrap.json for a devnet: the genesis as checkpoint while it is recent, else `head` (a header
 * the devnet's own node-0 stored, with the set that signs it).
 */
export function devnetBootstrap(
  chainId: number,
  genesis: { hash: string; timestamp: number; validators: string[] },
  head: { number: number; hash: string; validators: string[] },
  peers: Bootstrap['peers'],
  nowSec: number,
): Bootstrap {
  const b = genesisBootstrap(chainId, genesis.hash, genesis.validators, peers)
  if (nowSec - genesis.timestamp <= CHECKPOINT_MAX_AGE_SEC) return b
  return { ...b, checkpoint: { number: head.number, hash: head.hash }, validators: head.validators }
}

interface Ready {
  event: 'ready'
  genesisHash: string
  peerId: string
  addrs: string[]
  metrics?: string
  head: { number: number; hash: string; stateRoot: string; validators: string[] }
}

export async function devnet(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      accounts: { type: 'string' },
      contracts: { type: 'string' },
      slots: { type: 'string' },
      peers: { type: 'string' },
      'block-time': { type: 'string' },
      txs: { type: 'string' },
      seed: { type: 'string' },
      data: { type: 'string' },
      retain: { type: 'string' },
      'rotate-every': { type: 'string' },
    },
  })
  const dir = resolve(values.data ?? '.devnet')
  const peers = intOption(values.peers, 'peers', 3)
  const blockTime = intOption(values['block-time'], 'block-time', 2000)
  const say = (s: string) => process.stdout.write(`${s}\n`)
  await mkdir(dir, { recursive: true })

  const genesisFile = join(dir, 'genesis.json')
  const keysFile = join(dir, 'keys.json')
  const rotateEvery =
    values['rotate-every'] === undefined ? undefined : intOption(values['rotate-every'], 'rotate-every', 0, 0)
  if (existsSync(genesisFile) && existsSync(keysFile)) {
    const stored = parseKeysFile(await readJson(keysFile, 'keys file'), keysFile).rotateEvery
    if (rotateEvery !== undefined && rotateEvery !== stored)
      throw new UsageError(
        `the devnet in ${dir} ${stored ? `rotates a validator every ${stored} blocks` : 'never rotates validators'}; remove ${dir} to start one with --rotate-every ${rotateEvery}`,
      )
    say(`resuming the devnet in ${dir}${stored ? ` (a validator rotates every ${stored} blocks)` : ''}`)
  } else {
    const opts = {
      seed: values.seed ?? 'rootsync',
      accounts: intOption(values.accounts, 'accounts', 50_000),
      contracts: intOption(values.contracts, 'contracts', 200, 0),
      slots: intOption(values.slots, 'slots', 50, 0),
      // Dated now: light clients refuse checkpoints older than their trusting period.
      timestamp: Math.floor(Date.now() / 1000),
    }
    const t = performance.now()
    const { genesis, keys } = generateDevnet(opts)
    await writeFile(genesisFile, JSON.stringify(genesisToJson(genesis)))
    await writeFile(
      keysFile,
      JSON.stringify(keysFileJson({ keys, seed: opts.seed, rotateEvery: rotateEvery ?? 0 })),
      { mode: 0o600 },
    )
    say(
      `generated genesis (seed '${opts.seed}'): ${opts.accounts} accounts, ${opts.contracts} contracts × ${opts.slots} slots in ${Math.round(performance.now() - t)} ms → ${dir}${rotateEvery ? `; a validator rotates every ${rotateEvery} blocks` : ''}`,
    )
  }
  const genesis = parseGenesis(await readJson(genesisFile, 'genesis'))

  const children: ChildProcess[] = []
  let stopping = false
  const stopAll = async (code: number) => {
    if (stopping) return
    stopping = true
    say('stopping the devnet…')
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res()
            const killer = setTimeout(() => c.kill('SIGKILL'), 5000)
            c.once('exit', () => {
              clearTimeout(killer)
              res()
            })
            c.kill('SIGTERM')
          }),
      ),
    )
    process.exit(code)
  }
  process.once('SIGINT', () => void stopAll(0))
  process.once('SIGTERM', () => void stopAll(0))

  const start = (i: number, extra: string[]): Promise<Ready> => {
    const name = `node-${i}`
    const nodeDir = join(dir, name)
    const child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--data',
        nodeDir,
        '--genesis',
        genesisFile,
        '--metrics',
        '127.0.0.1:0',
        ...(values.retain ? ['--retain', values.retain] : []),
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    children.push(child)
    const logFile = join(dir, `${name}.log`)
    child.stderr!.pipe(createWriteStream(logFile, { flags: 'a' }))
    return new Promise((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new RootsyncError('DEVNET_START', `${name} did not start within 60 s; see ${logFile}`)),
        60_000,
      )
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let e: Record<string, unknown>
        try {
          e = JSON.parse(line)
        } catch {
          return
        }
        if (e.event === 'ready') {
          clearTimeout(timer)
          resolveReady(e as unknown as Ready)
        } else if (e.event === 'head') {
          say(
            `[${name}] head ${String(e.number).padStart(5)} ${String(e.hash).slice(0, 18)}… state root ${String(e.stateRoot).slice(0, 18)}…`,
          )
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        if (stopping) return
        say(`${name} exited (${signal ?? `code ${code}`}); see ${logFile}`)
        reject(new RootsyncError('DEVNET_NODE_EXIT', `${name} exited`))
        void stopAll(1)
      })
    })
  }

  const ready: (Ready & { name: string })[] = []
  const producer = await start(0, [
    '--produce',
    keysFile,
    '--block-time',
    String(blockTime),
    ...(values.txs ? ['--txs', values.txs] : []),
  ])
  ready.push({ ...producer, name: 'node-0' })
  const producerWs = pickAddr(producer, 'websocket') ?? producer.addrs[0]!
  const followers = await Promise.all(
    Array.from({ length: peers - 1 }, (_, k) =>
      start(k + 1, ['--follow', producerWs]).then((r) => ({ ...r, name: `node-${k + 1}` })),
    ),
  )
  ready.push(...followers)

  const genesisHash = ready[0]!.genesisHash
  const bootstrap = devnetBootstrap(
    genesis.chainId,
    { hash: genesisHash, timestamp: genesis.timestamp, validators: genesis.validators.map(toHex) },
    producer.head,
    ready.map((r) => ({ name: r.name, peerId: r.peerId, addrs: r.addrs, metrics: r.metrics })),
    Math.floor(Date.now() / 1000),
  )
  await writeFile(join(dir, 'bootstrap.json'), `${JSON.stringify(bootstrap, null, 2)}\n`)
  say(
    `devnet up: chain ${genesis.chainId}, genesis ${genesisHash}, block time ${blockTime} ms, checkpoint block ${bootstrap.checkpoint.number}`,
  )
  for (const r of ready) {
    say(`  ${r.name} ${r.peerId} at head ${r.head.number}${r.metrics ? `, metrics ${r.metrics}` : ''}`)
    for (const a of r.addrs) say(`    ${a}`)
  }
  say(`bootstrap: ${join(dir, 'bootstrap.json')} · logs: ${dir}/node-*.log · Ctrl-C stops`)
  await new Promise(() => {})
}
