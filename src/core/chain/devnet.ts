/**
 * A deterministic devnet: genesis and blocks generated from a seed string, so tests, benchmarks and
 * `rootsync devnet` rebuild the same chain anywhere.
 *
 * The genesis holds `accounts` plain accounts, `contracts` contracts (random code, `slots` storage
 * slots each) and a validator set. Only the first few accounts ("spenders") have known private keys
 * (deriving a key pair costs ~0.4 ms, too much for millions of accounts); blocks are made of
 * transfers from spenders to new and existing addresses, and storage writes into contracts.
 */
import { toHex, utf8 } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import { applyTransaction } from './apply.ts'
import { type Block, transactionsRoot } from './block.ts'
import type { Genesis } from './genesis.ts'
import { type Header, headerHash, signHeader } from './header.ts'
import { addressOf } from './keys.ts'
import { createRng, type Rng } from './rng.ts'
import type { StateCommit, StateDB } from './state.ts'
import { signTransaction, slotWord, type Transaction } from './tx.ts'

export interface DevnetOptions {
  seed: string
  accounts: number
  contracts: number
  slots: number
  validators?: number
  chainId?: number
  timestamp?: number
}

export interface DevnetKeys {
  validators: Uint8Array[]
  spenders: Uint8Array[]
}

export const MAX_SPENDERS = 64
const ETHER = 10n ** 18n

export function devnetKeys(seed: string, validators: number, spenders: number): DevnetKeys {
  const key = (kind: string, i: number) => keccak256(utf8(`rootsync-devnet/${seed}/${kind}/${i}`))
  return {
    validators: Array.from({ length: validators }, (_, i) => key('validator', i)),
    spenders: Array.from({ length: spenders }, (_, i) => key('spender', i)),
  }
}

export function generateDevnet(o: DevnetOptions): { genesis: Genesis; keys: DevnetKeys } {
  const rng = createRng(`genesis/${o.seed}`)
  const spenders = Math.min(o.accounts, MAX_SPENDERS)
  const keys = devnetKeys(o.seed, o.validators ?? 4, spenders)
  const alloc: Genesis['alloc'] = []
  const noCode = new Uint8Array(0)
  for (const k of keys.spenders)
    alloc.push([addressOf(k), { balance: 1_000_000n * ETHER, nonce: 0n, code: noCode, storage: [] }])
  for (let i = spenders; i < o.accounts; i++) {
    const balance = BigInt(1 + rng.int(1_000_000)) * 10n ** 15n
    alloc.push([rng.bytes(20), { balance, nonce: BigInt(rng.int(4)), code: noCode, storage: [] }])
  }
  for (let c = 0; c < o.contracts; c++) {
    const code = rng.bytes(32 + rng.int(224))
    code[0] = 0x60 // PUSH1: looks like bytecode, and is never all zeros
    const storage: [Uint8Array, bigint][] = []
    for (let s = 0; s < o.slots; s++)
      storage.push([slotWord(BigInt(s)), 1n + BigInt(rng.u32()) * BigInt(rng.u32())])
    alloc.push([rng.bytes(20), { balance: 0n, nonce: 1n, code, storage }])
  }
  return {
    genesis: {
      chainId: o.chainId ?? 1337,
      timestamp: o.timestamp ?? 1_700_000_000,
      validators: keys.validators.map(addressOf),
      alloc,
    },
    keys,
  }
}

export interface BlockProducer {
  chainId: number
  keys: DevnetKeys
  /** Contract addresses storage writes go to. */
  contracts: Uint8Array[]
  txsPerBlock: number
}

export function devnetProducer(genesis: Genesis, keys: DevnetKeys, txsPerBlock = 20): BlockProducer {
  return {
    chainId: genesis.chainId,
    keys,
    contracts: genesis.alloc.filter(([, a]) => a.code.length > 0).map(([addr]) => addr),
    txsPerBlock,
  }
}

/**
 * Makes the next block on top of `parent` and `state`: generated transactions (deterministic for a
 * given seed, parent and state), applied, and the header signed by every validator.
 */
export async function produceBlock(
  p: BlockProducer,
  state: StateDB,
  parent: Header,
  timestamp: number,
): Promise<{ block: Block; state: StateDB; commit: StateCommit }> {
  const rng: Rng = createRng(`block/${toHex(headerHash(parent))}`)
  const next = state.copy()
  const txs: Transaction[] = []
  for (let i = 0; i < p.txsPerBlock; i++) {
    const key = p.keys.spenders[rng.int(p.keys.spenders.length)]!
    const from = addressOf(key)
    const sender = await next.getAccount(from)
    if (!sender) continue
    const wantsWrite = p.contracts.length > 0 && rng.int(2) === 0
    const to = wantsWrite ? p.contracts[rng.int(p.contracts.length)]! : rng.bytes(20)
    const writes = wantsWrite
      ? Array.from({ length: 1 + rng.int(4) }, () => ({
          slot: slotWord(BigInt(rng.int(64))),
          value: rng.int(8) === 0 ? 0n : BigInt(rng.u32()) + 1n,
        }))
      : []
    const value = BigInt(1 + rng.int(1000)) * 10n ** 12n
    const tx = signTransaction({ chainId: p.chainId, nonce: sender.nonce, to, value, writes }, key)
    await applyTransaction(next, p.chainId, tx, txs.length)
    txs.push(tx)
  }
  const commit = await next.commit()
  const header: Header = {
    parentHash: headerHash(parent),
    number: parent.number + 1,
    stateRoot: commit.root,
    txRoot: await transactionsRoot(txs),
    timestamp: Math.max(timestamp, parent.timestamp),
    // A fixed set for now: it signs this header and the next.
    validatorsHash: parent.nextValidatorsHash,
    nextValidatorsHash: parent.nextValidatorsHash,
    extra: new Uint8Array(0),
  }
  const signed = signHeader(
    p.chainId,
    header,
    p.keys.validators.map((key, index) => ({ index, key })),
  )
  return {
    block: { header, signatures: signed.signatures, transactions: txs, validatorUpdates: [] },
    state: next,
    commit,
  }
}
