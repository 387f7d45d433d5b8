/**
 * The JSON-RPC methods the provider answers, each as: what it needs (see `Method.needs`), how its params are validated, and which verified read answers it.
 * Validation runs before anything else, so a malformed request gets -32602 whatever the connection.
 *
 * Security considerations: every answer but the chain id comes from a light-client read verified
 * against a header the light client verified (eth_blockNumber: its verified head); nothing here
 * computes chain data of its own.
 */
import type { BlockTag } from '../api/worker-protocol.ts'
import type { LightClient } from '../client/light-client.ts'
import { blockObject, proofObject } from './format.ts'
import { address, type BlockRef, blockHash, blockRef, bool, positional, quantity, slot } from './hex.ts'
import { chainDisconnected, invalidParams } from './rpc-errors.ts'

export interface MethodContext {
  client: LightClient
  /** Aborts the light client's reads (the provider's own signal). */
  signal?: AbortSignal
  /** Starts a `newHeads` subscription; returns its id. */
  subscribe(): string
  /** Ends subscription `id`; false when there was none. */
  unsubscribe(id: string): boolean
}

export interface Method {
  /** `none`: always answered; `config`: once started; `head`: once a header is verified (4900/4901). */
  needs: 'none' | 'config' | 'head'
  /** Validates `params` (throws -32602), then returns the call that answers. */
  prepare(params: unknown): (ctx: MethodContext) => Promise<unknown>
}

const method = <A>(
  name: string,
  needs: Method['needs'],
  min: number,
  max: number,
  parse: (p: unknown[]) => A,
  run: (a: A, ctx: MethodContext) => Promise<unknown>,
): [string, Method] => [
  name,
  {
    needs,
    prepare(params) {
      const a = parse(positional(params, name, min, max))
      return (ctx) => run(a, ctx)
    },
  },
]

/** The block a state read answers at, as the light client takes it (a hash: its verified height). */
async function at(ref: BlockRef, ctx: MethodContext): Promise<BlockTag> {
  if ('tag' in ref) return 'latest'
  if ('number' in ref) return ref.number
  return (await ctx.client.getBlock(ref.hash, { signal: ctx.signal })).number
}

const chainId = (ctx: MethodContext): number => {
  const id = ctx.client.chainId()
  if (id === null) throw chainDisconnected()
  return id
}

const account = async (p: { address: string; block: BlockRef }, ctx: MethodContext) =>
  (await ctx.client.getAccount(p.address, { block: await at(p.block, ctx), signal: ctx.signal })).account

const addressAt = (p: unknown[]) => ({ address: address(p[0]), block: blockRef(p[1]) })

export const METHODS: ReadonlyMap<string, Method> = new Map([
  method(
    'eth_chainId',
    'config',
    0,
    0,
    () => null,
    async (_, ctx) => quantity(chainId(ctx)),
  ),
  method(
    'net_version',
    'config',
    0,
    0,
    () => null,
    async (_, ctx) => String(chainId(ctx)),
  ),
  method(
    'eth_blockNumber',
    'head',
    0,
    0,
    () => null,
    async (_, ctx) => {
      const h = ctx.client.head()
      if (!h) throw chainDisconnected()
      return quantity(h.number)
    },
  ),
  method(
    'eth_getBlockByNumber',
    'head',
    1,
    2,
    (p) => ({ block: blockRef(p[0]), hydrated: p[1] === undefined ? false : bool(p[1], 'hydrated') }),
    async ({ block }, ctx) => {
      // Above the verified head: no such block yet, as far as verified headers go (null, as an
      // Ethereum node answers for a block it does not have; viem and ethers expect that).
      if ('number' in block && block.number > (ctx.client.head()?.number ?? -1)) return null
      const b = 'hash' in block ? block.hash : 'tag' in block ? 'latest' : block.number
      return blockObject(await ctx.client.getBlock(b, { signal: ctx.signal }))
    },
  ),
  method(
    'eth_getBlockByHash',
    'head',
    1,
    2,
    (p) => ({ hash: blockHash(p[0]), hydrated: p[1] === undefined ? false : bool(p[1], 'hydrated') }),
    async ({ hash }, ctx) => blockObject(await ctx.client.getBlock(hash, { signal: ctx.signal })),
  ),
  method('eth_getBalance', 'head', 1, 2, addressAt, async (p, ctx) =>
    quantity((await account(p, ctx))?.balance ?? 0),
  ),
  method('eth_getTransactionCount', 'head', 1, 2, addressAt, async (p, ctx) =>
    quantity((await account(p, ctx))?.nonce ?? 0),
  ),
  method(
    'eth_getCode',
    'head',
    1,
    2,
    addressAt,
    async (p, ctx) =>
      (await ctx.client.getCode(p.address, { block: await at(p.block, ctx), signal: ctx.signal })).code,
  ),
  method(
    'eth_getStorageAt',
    'head',
    2,
    3,
    (p) => ({ address: address(p[0]), slot: slot(p[1]), block: blockRef(p[2]) }),
    async (p, ctx) => {
      const block = await at(p.block, ctx)
      return (await ctx.client.getStorage(p.address, p.slot, { block, signal: ctx.signal })).value
    },
  ),
  method(
    'eth_getProof',
    'head',
    2,
    3,
    (p) => {
      if (!Array.isArray(p[1])) throw invalidParams('storage keys: expected a list of 0x slots')
      const keys = p[1] as unknown[]
      return {
        address: address(p[0]),
        keys: keys.map((k, i) => slot(k, `storage keys[${i}]`)),
        given: keys as string[],
        block: blockRef(p[2]),
      }
    },
    async (p, ctx) => {
      const block = await at(p.block, ctx)
      return proofObject(await ctx.client.getProof(p.address, p.keys, { block, signal: ctx.signal }), p.given)
    },
  ),
  method(
    'eth_subscribe',
    'head',
    1,
    1,
    (p) => {
      if (p[0] !== 'newHeads')
        throw invalidParams(`eth_subscribe: only "newHeads" is supported, got ${JSON.stringify(p[0])}`)
      return null
    },
    async (_, ctx) => ctx.subscribe(),
  ),
  method(
    'eth_unsubscribe',
    'none',
    1,
    1,
    (p) => {
      if (typeof p[0] !== 'string') throw invalidParams('eth_unsubscribe: expected a subscription id')
      return p[0]
    },
    async (id, ctx) => ctx.unsubscribe(id),
  ),
])
