/**
 * A devnet chain of any height, fast, for bench:coldstart: a genesis (the devnet's accounts) and
 * `height` empty blocks on it, written as a serving node's data directory (`rootsync serve --data`).
 *
 * Empty blocks (no transactions, the genesis state root, the empty transactions root) cost one
 * header hash each plus their signatures; a light client never reads an intermediate block's body,
 * so what it verifies is the same as on a busy chain. Headers are built in order (each names its
 * parent's hash), then signed in parallel on worker threads (chaingen.worker.ts) by every validator
 * of the block's set, as the devnet's producer signs, then stored through `ChainDB.appendBlocks`.
 *
 * Timestamps end now: the genesis is `height × blockSeconds` seconds old, so the chain is inside a
 * trusting period however long it is. A generated chain is cached under bench/.cache by its
 * parameters and reused for a day (then its timestamps are regenerated).
 *
 * Validator rotation (`rotateEvery`) follows the devnet's own rule (`devnetSlotsAt`, `devnetUpdateAt`:
 * one validator replaced every `rotateEvery` blocks, keys derived from the seed), so a generated chain
 * is one `rootsync devnet --rotate-every N` could have produced.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { toHex } from '../src/core/bytes.ts'
import { type Block, transactionsRoot } from '../src/core/chain/block.ts'
import { ChainDB } from '../src/core/chain/chain-db.ts'
import {
  devnetSetAt,
  devnetSlotsAt,
  devnetUpdateAt,
  devnetValidatorAddress,
  devnetValidatorKey,
  generateDevnet,
  type Rotation,
} from '../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot, genesisToJson } from '../src/core/chain/genesis.ts'
import { type Header, headerHash, headerSigningHash } from '../src/core/chain/header.ts'
import { addressOf } from '../src/core/chain/keys.ts'
import type { StateCommit } from '../src/core/chain/state.ts'
import { validatorSetHash } from '../src/core/chain/validators.ts'
import { keccak256 } from '../src/core/hash.ts'
import { LevelNodeStore } from '../src/store/level-store.ts'

export interface ChainSpec {
  seed: string
  accounts: number
  height: number
  /** One validator replaced every this many blocks; 0: the genesis set signs forever. */
  rotateEvery: number
  validators: number
  blockSeconds: number
}

export interface GeneratedChain {
  /** A serving node's data directory (copy it before serving: LevelDB cannot be shared). */
  dataDir: string
  genesisFile: string
  chainId: number
  genesisHash: string
  validators: string[]
  /** A genesis account with a known balance (1,000,000 ETH). */
  address: string
  /** Seconds the generation took (0: from the cache). */
  seconds: number
}

/** Bumped when what is written changes (the header format, the layout). */
const FORMAT = 3
const CACHE = join(import.meta.dirname, '.cache')
const MAX_AGE_MS = 86_400_000

/** The key of a spec's cache directory. */
function specKey(spec: ChainSpec): string {
  const json = JSON.stringify({ FORMAT, ...spec })
  return toHex(keccak256(new TextEncoder().encode(json))).slice(2, 14)
}

/** The signing thread: tsx registered first (a thread does not inherit `--import tsx` in Node 20). */
const THREAD = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(
  new URL('./chaingen.worker.ts', import.meta.url).href,
)}) })`

/**
 * Signs digest i with keys[signers[i·v + k]] for k < v, split across threads: 65 bytes per
 * (digest, k), in that order.
 */
async function signAll(
  digests: Uint8Array,
  signers: Uint32Array,
  v: number,
  keys: Uint8Array[],
): Promise<Uint8Array> {
  const count = digests.length / 32
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 500)))
  const per = Math.ceil(count / threads)
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const end = Math.min(count, (t + 1) * per)
      const slice = digests.slice(t * per * 32, end * 32)
      const who = signers.slice(t * per * v, end * v)
      return new Promise<Uint8Array>((resolve, reject) => {
        const w = new Worker(THREAD, {
          eval: true,
          workerData: { digests: slice, signers: who, v, keys },
          transferList: [slice.buffer, who.buffer],
        })
        w.once('message', (m: Uint8Array) => resolve(new Uint8Array(m)))
        w.once('error', reject)
      })
    }),
  )
  const out = new Uint8Array(count * v * 65)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

async function write(spec: ChainSpec, dir: string): Promise<Omit<GeneratedChain, 'seconds'>> {
  const nowSec = Math.floor(Date.now() / 1000)
  const { genesis, keys } = generateDevnet({
    seed: spec.seed,
    accounts: spec.accounts,
    contracts: 0,
    slots: 0,
    validators: spec.validators,
    timestamp: nowSec - spec.height * spec.blockSeconds,
  })
  const root = genesisStateRoot(genesis)
  const gHeader = genesisHeader(genesis, root)
  const txRoot = await transactionsRoot([])
  const r: Rotation = { seed: spec.seed, validators: spec.validators, every: spec.rotateEvery }
  const v = spec.validators
  // Pass 1, in order: each header names its parent's hash and the sets that sign it and the next.
  const headers: Header[] = []
  const digests = new Uint8Array(spec.height * 32)
  const signers = new Uint32Array(spec.height * v)
  let maxKey = v - 1
  let setHash = gHeader.nextValidatorsHash
  let parent = gHeader
  for (let n = 1; n <= spec.height; n++) {
    const changes = devnetUpdateAt(r, n).length > 0
    const nextHash = changes ? validatorSetHash(genesis.chainId, devnetSetAt(r, n + 1)) : setHash
    const h: Header = {
      parentHash: headerHash(parent),
      number: n,
      stateRoot: root,
      txRoot,
      timestamp: genesis.timestamp + n * spec.blockSeconds,
      validatorsHash: setHash,
      nextValidatorsHash: nextHash,
      extra: new Uint8Array(0),
    }
    const slots = devnetSlotsAt(r, n)
    signers.set(slots, (n - 1) * v)
    maxKey = Math.max(maxKey, ...slots)
    setHash = nextHash
    digests.set(headerSigningHash(genesis.chainId, headerHash(h)), (n - 1) * 32)
    headers.push(h)
    parent = h
  }
  // Pass 2, in parallel: every validator of a block's set signs it.
  const allKeys = Array.from({ length: maxKey + 1 }, (_, i) =>
    i < v ? keys.validators[i]! : devnetValidatorKey(spec.seed, i),
  )
  const sigs = await signAll(digests, signers, v, allKeys)
  // Pass 3: the serving node's store, through the chain's own write path.
  const store = await LevelNodeStore.open(join(dir, 'db'))
  try {
    const chain = await ChainDB.open(store, genesis)
    let run: { block: Block; commit: StateCommit }[] = []
    for (const [i, header] of headers.entries()) {
      const block: Block = {
        header,
        signatures: Array.from({ length: v }, (_, k) => ({
          validator: k,
          signature: sigs.slice((i * v + k) * 65, (i * v + k + 1) * 65),
        })),
        transactions: [],
        validatorUpdates: devnetUpdateAt(r, header.number).map((u) => ({
          slot: u.slot,
          address: devnetValidatorAddress(spec.seed, u.keyIndex),
        })),
      }
      run.push({ block, commit: { root, nodes: [], markStored() {} } })
      if (run.length === 1000 || i === headers.length - 1) {
        await chain.appendBlocks(run)
        run = []
      }
    }
  } finally {
    await store.close()
  }
  const genesisFile = join(dir, 'genesis.json')
  writeFileSync(genesisFile, JSON.stringify(genesisToJson(genesis)))
  return {
    dataDir: dir,
    genesisFile,
    chainId: genesis.chainId,
    genesisHash: toHex(headerHash(gHeader)),
    validators: genesis.validators.map(toHex),
    address: toHex(addressOf(keys.spenders[0]!)),
  }
}

/**
 * The chain of `spec`, from the cache when a complete one younger than a day is there, otherwise
 * generated (into a temporary directory, marked done last, so an interrupted run is never reused).
 */
export async function generateChain(spec: ChainSpec): Promise<GeneratedChain> {
  const dir = join(CACHE, `coldstart-${specKey(spec)}`)
  const done = join(dir, 'done.json')
  if (existsSync(done) && Date.now() - statSync(done).mtimeMs < MAX_AGE_MS)
    return { ...(JSON.parse(readFileSync(done, 'utf8')) as GeneratedChain), seconds: 0 }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const t = performance.now()
  const chain = await write(spec, dir)
  const seconds = (performance.now() - t) / 1000
  writeFileSync(done, JSON.stringify(chain))
  return { ...chain, seconds }
}

/** A copy of the chain's data directory for one serving node (LevelDB takes a lock on its own). */
export function copyDataDir(chain: GeneratedChain, to: string): string {
  cpSync(join(chain.dataDir, 'db'), join(to, 'db'), { recursive: true })
  return to
}
