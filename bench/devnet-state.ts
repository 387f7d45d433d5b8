/**
 * A serving node's data directory for the benchmarks: a devnet genesis (the accounts, 100 contracts
 * with 100 slots each, as bench:sync and bench:serve use) built into LevelDB the way
 * `rootsync serve --genesis` builds it, and its genesis file next to it.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
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
