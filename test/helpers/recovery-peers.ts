/**
 * Recovery test kit over a devnet chain (devnet-chain.ts): fake `LightPeer`s serving its status,
 * headers and blocks (optionally altered), a store holding exactly the state at some height, a
 * strategy context with a manual clock that records charges, and a dump of a memory store for
 * before/after comparisons.
 */
import { beforeAll } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import type { Block } from '../../src/core/chain/block.ts'
import { type Header, headerHash, type SignedHeader } from '../../src/core/chain/header.ts'
import { type ManualClock, manualClock } from '../../src/core/clock.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { META } from '../../src/core/meta-keys.ts'
import type { StatusResponse } from '../../src/core/protocol/messages.ts'
import {
  DEFAULT_RECOVERY_OPTIONS,
  type RecoveryOptions,
  type StrategyContext,
} from '../../src/core/recovery/types.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { walkReachable } from '../../src/core/trie/reachable.ts'
import { makeDevnetChain } from './devnet-chain.ts'

export type DevChain = Awaited<ReturnType<typeof makeDevnetChain>>

/** What a peer serves: a chain's headers and blocks by height. */
export interface ChainView {
  chainId: number
  headers: SignedHeader[]
  blocks: Block[]
}

export interface PeerFaults {
  /** The head its status claims (default: the view's last height). */
  headNumber?: number
  /** Rewrites the headers it serves. */
  headers?: (hs: SignedHeader[]) => SignedHeader[]
  /** Rewrites the blocks it serves. */
  blocks?: (bs: Block[]) => Block[]
  /** Most blocks in one reply (a server's size limit). */
  maxBlocksPerReply?: number
  /** Never answers a blocks request. */
  stallBlocks?: boolean
}

export type FakePeer = LightPeer & { blocksServed: number; blockRequests: number }

const never = <T>() => new Promise<T>(() => {})

export function chainPeer(id: string, view: ChainView, faults: PeerFaults = {}): FakePeer {
  const head = view.headers.at(-1)!.header
  const p: FakePeer = {
    id,
    blocksServed: 0,
    blockRequests: 0,
    wire: {
      status: async (): Promise<StatusResponse> => ({
        chainId: view.chainId,
        genesisHash: headerHash(view.headers[0]!.header),
        headNumber: faults.headNumber ?? head.number,
        headHash: headerHash(head),
        headStateRoot: head.stateRoot,
        oldestStateNumber: 0,
      }),
      headers: async (start, count) =>
        (faults.headers ?? ((h) => h))(view.headers.slice(start, start + count)),
      blocks: async (start, count) => {
        p.blockRequests++
        if (faults.stallBlocks) return never<Block[]>()
        const n = Math.min(count, faults.maxBlocksPerReply ?? count)
        const bs = (faults.blocks ?? ((b) => b))(view.blocks.slice(Math.max(1, start), start + n))
        p.blocksServed += bs.length
        return bs
      },
      nodes: () => never<Uint8Array[]>(),
      proof: () => never<never>(),
    },
  }
  return p
}

/** A copy of `block` whose first transaction sends another value (its header left intact). */
export function alterTransaction(block: Block): Block {
  const [tx, ...rest] = block.transactions
  return { ...block, transactions: [{ ...tx!, value: tx!.value + 1n }, ...rest] }
}

/** Alters block `height` wherever it is served. */
export const badBlockAt =
  (height: number) =>
  (bs: Block[]): Block[] =>
    bs.map((b) => (b.header.number === height ? alterTransaction(b) : b))

/**
 * The chain with header `height`'s state root replaced (as if its producer committed to a wrong
 * root), every later header re-linked: its transactions still match, so applying it cannot reach it.
 */
export function forkWithWrongRoot(view: ChainView, height: number): ChainView {
  const headers: SignedHeader[] = view.headers.slice(0, height)
  const blocks: Block[] = view.blocks.slice(0, height)
  for (let n = height; n < view.headers.length; n++) {
    const old = view.headers[n]!.header
    const header: Header = {
      ...old,
      parentHash: headerHash(headers[n - 1]!.header),
      stateRoot: n === height ? new Uint8Array(32).fill(7) : old.stateRoot,
    }
    headers.push({ header, signatures: [] })
    blocks.push({ ...view.blocks[n]!, header, signatures: [] })
  }
  return { chainId: view.chainId, headers, blocks }
}

export const viewOf = (chain: DevChain): ChainView => ({
  chainId: chain.config.chainId,
  headers: chain.headers,
  blocks: chain.blocks,
})

export interface RecoveryChain {
  chain: DevChain
  view: ChainView
  /** The state root at height `h`. */
  rootAt(h: number): Uint8Array
}

/**
 * A small devnet chain of `blocks` blocks (3 transactions each), built once for the test file (in
 * `beforeAll`), and the view its peers serve.
 */
export function recoveryChain(seed: string, blocks: number): RecoveryChain {
  const t = { rootAt: (h: number) => t.chain.headers[h]!.header.stateRoot } as RecoveryChain
  beforeAll(async () => {
    t.chain = await makeDevnetChain({ seed, accounts: 120, contracts: 3, slots: 3 }, blocks, 3)
    t.view = viewOf(t.chain)
  })
  return t
}

/** A store holding exactly the state at `height` (every node its root reaches, nothing else). */
export async function storeWithState(chain: DevChain, heights: number[]): Promise<MemoryNodeStore> {
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const roots = heights.map((h) => chain.headers[h]!.header.stateRoot)
  await walkReachable(chain.store, roots, { onNode: (h, b) => nodes.push([h, b]) })
  await store.write({ nodes })
  return store
}

/** Records the state at `height` as the last completed sync (META.stateRoot). */
export async function recordSynced(store: MemoryNodeStore, chain: DevChain, height: number): Promise<void> {
  await store.write({
    meta: [[META.stateRoot, rlpEncode([chain.headers[height]!.header.stateRoot, height])]],
  })
}

export interface TestContext extends StrategyContext {
  clock: ManualClock
  charges: { peer: string; reason: string }[]
  phases: string[]
  abort: AbortController
}

/** A context targeting `view`'s header at `height`, over `store` and `peers`. */
export function contextFor(
  view: ChainView,
  height: number,
  store: MemoryNodeStore,
  peers: LightPeer[],
  options: Partial<RecoveryOptions> = {},
): TestContext {
  const header = view.headers[height]!
  const abort = new AbortController()
  const ctx: TestContext = {
    target: { header: header.header, hash: headerHash(header.header), signed: header },
    chainId: view.chainId,
    store,
    clock: manualClock(),
    peers: () => peers,
    signal: abort.signal,
    counters: { bytes: 0, nodes: 0, blocks: 0 },
    progress: (phase) => ctx.phases.push(phase),
    charge: (peer, reason) => ctx.charges.push({ peer, reason }),
    options: { ...DEFAULT_RECOVERY_OPTIONS, ...options },
    charges: [],
    phases: [],
    abort,
  }
  return ctx
}

/** Runs the manual clock (letting promises settle between steps) until `work` settles. */
export async function driveClock<T>(ctx: TestContext, work: Promise<T>): Promise<T> {
  let settled = false
  work.then(
    () => (settled = true),
    () => (settled = true),
  )
  while (!settled) {
    await new Promise((r) => setImmediate(r))
    if (!settled) ctx.clock.advance(250)
  }
  return work
}

/** Everything a memory store holds, as one comparable string. */
export function dumpStore(store: MemoryNodeStore): string {
  const entries = (m: Map<string, Uint8Array>) => [...m].map(([k, v]) => `${k}=${toHex(v)}`).sort()
  return JSON.stringify({ nodes: entries(store.nodes), meta: entries(store.meta) })
}
