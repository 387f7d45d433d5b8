/**
 * Serving nodes for the benchmarks: a data directory with a devnet genesis (the accounts, 100
 * contracts with 100 slots each, as bench:sync and bench:serve use) built into LevelDB the way
 * `rootsync serve --genesis` builds it, and a real `rootsync serve` process started on one and
 * stopped.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { toHex } from '../src/core/bytes.ts'
import { ChainDB } from '../src/core/chain/chain-db.ts'
import { generateDevnet } from '../src/core/chain/devnet.ts'
import { genesisToJson } from '../src/core/chain/genesis.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'

export interface DevnetState {
  /** `rootsync serve --data` directory (its LevelDB in `db/`). */
  dataDir: string
  genesisFile: string
  /** The genesis state root, hex. */
  root: string
}

/** Builds `accounts` devnet accounts under `dir` (subdirectory `node`), seeded by `seed`. */
export async function buildDevnetState(dir: string, accounts: number, seed: string): Promise<DevnetState> {
  const { genesis } = generateDevnet({ seed, accounts, contracts: 100, slots: 100 })
  const genesisFile = join(dir, 'genesis.json')
  writeFileSync(genesisFile, JSON.stringify(genesisToJson(genesis)))
  const dataDir = join(dir, 'node')
  const store = await LevelNodeStore.open(join(dataDir, 'db'))
  const chain = await ChainDB.open(store, genesis)
  const root = toHex((await chain.head()).header.stateRoot)
  await store.close()
  return { dataDir, genesisFile, root }
}

const BIN = join(import.meta.dirname, '..', 'bin', 'rootsync.js')

export interface ServeProcess {
  proc: ChildProcess
  /** Its WebSocket listen address (from the `ready` event). */
  ws: string
}

/**
 * `rootsync serve --data dataDir` as a child process, once it is ready. `nodeFlags` go to node
 * (`--cpu-prof`, …); `stdio` beyond fd 1 (the events, always a pipe) as `spawn` takes it.
 */
export async function startServe(
  dataDir: string,
  nodeFlags: string[] = [],
  stdio: StdioOptions = ['ignore', 'pipe', 'ignore'],
): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [...nodeFlags, BIN, 'serve', '--data', dataDir], { stdio })
  const ws = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`rootsync serve exited with ${code}`)))
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      try {
        const e = JSON.parse(l)
        if (e.event === 'ready') resolve(e.addrs.find((x: string) => x.includes('/ws/')))
      } catch {}
    })
  })
  return { proc, ws }
}

/** SIGTERM (a clean stop: profiles get written), SIGKILL after 15 s. */
export async function stopServe(s: ServeProcess): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()))
  s.proc.kill('SIGTERM')
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(t)
}
