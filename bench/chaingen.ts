/**
 * A devnet chain of any height, fast, for bench:coldstart: a genesis (the devnet's accounts) and
 * `height` empty blocks on it, written as a serving node's data directory (`rootsync serve --data`).
 *
 * Empty blocks (no transactions, the genesis state root, the empty transactions root) cost one
 * header hash each plus their signatures; a light client never reads an intermediate block's body,
 * so what it verifies is the same as on a busy chain. Headers are built in order (each names its
 * parent's hash), then signed in parallel on worker threads (chaingen.worker.ts) by every validator
 * of the block's set, as the devnet's producer signs, then stored through `ChainDB.commitBlock`.
 *
 * Timestamps end now: the genesis is `height × blockSeconds` seconds old, so the chain is inside a
 * trusting period however long it is. A generated chain is cached under bench/.cache by its
 * parameters and reused for a day (then its timestamps are regenerated).
 *
 * Validator rotation (`rotateEvery`) is the generator's parameter, but the chain format cannot rotate
 * yet: a spec with `rotateEvery > 0` is refused (RotationUnsupported) until it can.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { toHex } from '../src/core/bytes.ts'
import { type Block, transactionsRoot } from '../src/core/chain/block.ts'
import { ChainDB } from '../src/core/chain/chain-db.ts'
import { generateDevnet } from '../src/core/chain/devnet.ts'
import { genesisHeader, genesisStateRoot, genesisToJson } from '../src/core/chain/genesis.ts'
import { type Header, headerHash, headerSigningHash } from '../src/core/chain/header.ts'
import { addressOf } from '../src/core/chain/keys.ts'
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
const FORMAT = 2
const CACHE = join(import.meta.dirname, '.cache')
const MAX_AGE_MS = 86_400_000

export class RotationUnsupported extends Error {
  readonly code = 'ROTATION_UNSUPPORTED'
}

/** The key of a spec's cache directory. */
function specKey(spec: ChainSpec): string {
  const json = JSON.stringify({ FORMAT, ...spec })
  return toHex(keccak256(new TextEncoder().encode(json))).slice(2, 14)
}

/** The validator keys signing block `n` (a schedule: rotation will replace one every `rotateEvery`). */
function signersAt(spec: ChainSpec, keys: Uint8Array[], _n: number): Uint8Array[] {
  if (spec.rotateEvery > 0)
    throw new RotationUnsupported(
      'validator rotation: not yet (the devnet rotation schedule, `rootsync devnet --rotate-every`, is not on this branch)',
    )
  return keys
}

/** The signing thread: tsx registered first (a thread does not inherit `--import tsx` in Node 20). */
const THREAD = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(
  new URL('./chaingen.worker.ts', import.meta.url).href,
)}) })`

/** Signs every digest with every key of `keys`, split across threads: 65 bytes per (digest, key). */
async function signAll(digests: Uint8Array, keys: Uint8Array[]): Promise<Uint8Array> {
  const count = digests.length / 32
  const threads = Math.max(1, Math.min(availableParallelism(), Math.ceil(count / 500)))
  const per = Math.ceil(count / threads)
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const slice = digests.slice(t * per * 32, Math.min(count, (t + 1) * per) * 32)
      return new Promise<Uint8Array>((resolve, reject) => {
        const w = new Worker(THREAD, {
          eval: true,
          workerData: { digests: slice, keys },
          transferList: [slice.buffer],
        })
        w.once('message', (m: Uint8Array) => resolve(new Uint8Array(m)))
        w.once('error', reject)
      })
    }),
  )
  const out = new Uint8Array(count * keys.length * 65)
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
  // Pass 1, in order: each header names its parent's hash.
  const headers: Header[] = []
  const digests = new Uint8Array(spec.height * 32)
  let parent = gHeader
  for (let n = 1; n <= spec.height; n++) {
    const h: Header = {
      parentHash: headerHash(parent),
      number: n,
      stateRoot: root,
      txRoot,
      timestamp: genesis.timestamp + n * spec.blockSeconds,
      // The set that signs this header and the next: fixed while the generator cannot rotate.
      validatorsHash: parent.nextValidatorsHash,
      nextValidatorsHash: parent.nextValidatorsHash,
      extra: new Uint8Array(0),
    }
    signersAt(spec, keys.validators, n)
    digests.set(headerSigningHash(genesis.chainId, headerHash(h)), (n - 1) * 32)
    headers.push(h)
    parent = h
  }
  // Pass 2, in parallel: every validator signs every block.
  const sigs = await signAll(digests, keys.validators)
  // Pass 3: the serving node's store, through the chain's own write path.
  const store = await LevelNodeStore.open(join(dir, 'db'))
  try {
    const chain = await ChainDB.open(store, genesis)
    const v = keys.validators.length
    for (const [i, header] of headers.entries()) {
      const block: Block = {
        header,
        signatures: Array.from({ length: v }, (_, k) => ({
          validator: k,
          signature: sigs.slice((i * v + k) * 65, (i * v + k + 1) * 65),
        })),
        transactions: [],
        validatorUpdates: [],
      }
      await chain.commitBlock(block, { root, nodes: [], markStored() {} })
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
