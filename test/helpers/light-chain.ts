/**
 * Synthetic header-only chains for skipping-verification tests: headers linked by hash, committing
 * to validator sets that rotate on a schedule (`rotateEvery`: every so many blocks, `rotate` slots
 * get new keys; a change carried in block h applies from h+1). Signatures are made lazily (and
 * memoised) when a height is served, so a 100,000-header chain costs its hashing and a few
 * signatures. `fork` makes a conflicting branch; `lightPeer` serves a chain honestly or lies as its
 * mode says. `verifySequential` is the plain oracle: every header from a trusted one, one by one.
 */
import { toHex, utf8 } from '../../src/core/bytes.ts'
import {
  type Header,
  headerHash,
  type LightBlock,
  type SignedHeader,
  signHeader,
} from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import type { Checkpoint } from '../../src/core/chain/light.ts'
import {
  type LightBlockReply,
  lightBlockOf,
  lightBlockReply,
  type ValidatorSet,
  validatorSetHash,
  verifyHeaderSignatures,
} from '../../src/core/chain/validators.ts'
import { MANUAL_WALL_START_MS } from '../../src/core/clock.ts'
import { keccak256 } from '../../src/core/hash.ts'
import type { BootstrapConfig } from '../../src/core/light/config.ts'
import type { LightPeer } from '../../src/core/light/peers.ts'
import { checkStep } from '../../src/core/light/skipping.ts'
import type { StatusResponse } from '../../src/core/protocol/messages.ts'

const keyCache = new Map<number, Uint8Array>()
const addrCache = new Map<number, Uint8Array>()
/** Validator key `i` (deterministic). */
export const keyOf = (i: number): Uint8Array => {
  let k = keyCache.get(i)
  if (!k) keyCache.set(i, (k = keccak256(utf8(`light-chain/validator/${i}`))))
  return k
}
export const addressOfKey = (i: number): Uint8Array => {
  let a = addrCache.get(i)
  if (!a) addrCache.set(i, (a = addressOf(keyOf(i))))
  return a
}

export interface LightChainOptions {
  /** The head's height. */
  length: number
  validators?: number
  /** A set change every this many blocks (0: never). */
  rotateEvery?: number
  /** Slots replaced per change. */
  rotate?: number
  chainId?: number
  /** Seconds between blocks. */
  blockSec?: number
  /** The genesis timestamp (default: the head lands a minute before the manual clock's wall time). */
  genesisTime?: number
}

export interface LightChain {
  chainId: number
  length: number
  header(n: number): Header
  hash(n: number): Uint8Array
  /** Key indexes of the set that signs header n (slot order). */
  keysAt(n: number): number[]
  setAt(n: number): ValidatorSet
  signed(n: number): SignedHeader
  reply(n: number): LightBlockReply
  lightBlock(n: number): LightBlock
  checkpoint(n?: number): Checkpoint
  config(n?: number): BootstrapConfig
  /** How many set changes happened below height n (the set signing n is the result of them). */
  changesBefore(n: number): number
}

/** A made-up state root for header n of a branch (cheap: no hashing). */
function rootOf(n: number, branch: number): Uint8Array {
  const r = new Uint8Array(32)
  const v = new DataView(r.buffer)
  v.setUint32(0, 0x5eed)
  v.setUint32(4, branch)
  v.setFloat64(8, n)
  return r
}

/** `keysOf(h)`: the key indexes signing header h; `prefix`: headers below `from` are taken from it. */
function build(
  o: { chainId: number; length: number; time: (n: number) => number; keysOf: (n: number) => number[] },
  prefix?: { chain: LightChain; from: number },
  signers?: (n: number) => number[],
): LightChain {
  const setHashes = new Map<string, Uint8Array>()
  const setHash = (keys: number[]) => {
    const k = keys.join(',')
    let h = setHashes.get(k)
    if (!h)
      setHashes.set(
        k,
        (h = validatorSetHash(
          o.chainId,
          keys.map((i) => addressOfKey(i)),
        )),
      )
    return h
  }
  const headers: Header[] = []
  const hashes: Uint8Array[] = []
  const keysOf = (n: number) => (prefix && n < prefix.from ? prefix.chain.keysAt(n) : o.keysOf(n))
  for (let n = 0; n <= o.length; n++) {
    if (prefix && n < prefix.from) {
      headers.push(prefix.chain.header(n))
      hashes.push(prefix.chain.hash(n))
      continue
    }
    const h: Header = {
      parentHash: n ? hashes[n - 1]! : new Uint8Array(32),
      number: n,
      stateRoot: rootOf(n, prefix ? prefix.from : 0),
      txRoot: new Uint8Array(32),
      timestamp: o.time(n),
      validatorsHash: setHash(keysOf(n)),
      nextValidatorsHash: setHash(keysOf(n + 1)),
      extra: new Uint8Array(0),
    }
    headers.push(h)
    hashes.push(headerHash(h))
  }
  const signedCache = new Map<number, SignedHeader>()
  const chain: LightChain = {
    chainId: o.chainId,
    length: o.length,
    header: (n) => headers[n]!,
    hash: (n) => hashes[n]!,
    keysAt: keysOf,
    setAt: (n) => keysOf(n).map((i) => addressOfKey(i)),
    changesBefore: () => 0,
    signed(n) {
      if (prefix && n < prefix.from) return prefix.chain.signed(n)
      let s = signedCache.get(n)
      if (!s) {
        const keys = keysOf(n)
        const by = signers?.(n) ?? keys
        s = signHeader(
          o.chainId,
          headers[n]!,
          by.map((k) => ({ index: keys.includes(k) ? keys.indexOf(k) : by.indexOf(k), key: keyOf(k) })),
        )
        signedCache.set(n, s)
      }
      return s
    },
    reply: (n) =>
      prefix && n < prefix.from
        ? prefix.chain.reply(n)
        : lightBlockReply({
            signed: chain.signed(n),
            validators: chain.setAt(n),
            nextValidators: chain.setAt(n + 1),
          }),
    lightBlock: (n) => lightBlockOf(o.chainId, chain.reply(n)),
    checkpoint: (n = 0) => ({ chainId: o.chainId, number: n, hash: hashes[n]!, validators: chain.setAt(n) }),
    config: (n = 0) => ({
      chainId: o.chainId,
      genesisHash: toHex(hashes[0]!),
      checkpoint: { number: n, hash: toHex(hashes[n]!) },
      validators: chain.setAt(n).map(toHex),
      peers: [],
    }),
  }
  return chain
}

export function makeLightChain(opts: LightChainOptions): LightChain {
  const n = opts.validators ?? 4
  const every = opts.rotateEvery ?? 0
  const rotate = opts.rotate ?? 1
  const blockSec = opts.blockSec ?? 1
  const genesisTime =
    opts.genesisTime ?? Math.floor(MANUAL_WALL_START_MS / 1000) - opts.length * blockSec - 60
  /** Changes applied before height h: block c·every carries change c, which applies from c·every + 1. */
  const changesBefore = (h: number) => (every && h > 0 ? Math.floor((h - 1) / every) : 0)
  const sets = new Map<number, number[]>()
  const setAfter = (c: number): number[] => {
    let s = sets.get(c)
    if (!s) {
      s = Array.from({ length: n }, (_, i) => i)
      for (let k = 0; k < c * rotate; k++) s[k % n] = n + k
      sets.set(c, s)
    }
    return s
  }
  const chain = build({
    chainId: opts.chainId ?? 4242,
    length: opts.length,
    time: (h) => genesisTime + h * blockSec,
    keysOf: (h) => setAfter(changesBefore(h)),
  })
  chain.changesBefore = changesBefore
  return chain
}

/**
 * A branch of `chain` from height `at` (headers below are shared) to `length`, whose headers from
 * `at` on are signed by `keys` and claim `keys` as their set (e.g. departed validators).
 */
export function fork(chain: LightChain, at: number, keys: number[], length = chain.length): LightChain {
  return build(
    {
      chainId: chain.chainId,
      length,
      time: (h) => chain.header(Math.min(h, chain.length)).timestamp,
      keysOf: () => keys,
    },
    { chain, from: at },
  )
}

/** The same chain, every header from `from` on signed by only `signers` (key indexes) of its set. */
export function signedBy(chain: LightChain, from: number, signers: (n: number) => number[]): LightChain {
  return build(
    {
      chainId: chain.chainId,
      length: chain.length,
      time: (h) => chain.header(h).timestamp,
      keysOf: (h) => chain.keysAt(h),
    },
    { chain, from },
    signers,
  )
}

export type LightPeerMode = 'honest' | 'minority' | 'lie-validators' | 'fork-departed' | 'stall'

export type FakeLightPeer = LightPeer & { requests: number[]; statuses: number }

const never = <T>() => new Promise<T>(() => {})

/**
 * A peer serving `chain`'s light blocks. 'minority': every header above the checkpoint signed by
 * fewer than 2/3 of its set; 'lie-validators': above the checkpoint, a set with one address
 * swapped; 'fork-departed': serves `other` (a fork, see `fork`) and claims its head; 'stall': answers
 * its status, never a light block.
 */
export function lightPeer(
  id: string,
  chain: LightChain,
  mode: LightPeerMode = 'honest',
  other?: LightChain,
): FakeLightPeer {
  const served = mode === 'fork-departed' ? other! : chain
  const minority =
    mode === 'minority'
      ? signedBy(chain, 1, (n) => chain.keysAt(n).slice(0, Math.ceil((2 * chain.keysAt(n).length) / 3) - 1))
      : null
  const p: FakeLightPeer = {
    id,
    requests: [],
    statuses: 0,
    wire: {
      async status(): Promise<StatusResponse> {
        p.statuses++
        const head = served.header(served.length)
        return {
          chainId: served.chainId,
          genesisHash: served.hash(0),
          headNumber: served.length,
          headHash: served.hash(served.length),
          headStateRoot: head.stateRoot,
          oldestStateNumber: 0,
        }
      },
      async validators(height: number): Promise<LightBlockReply> {
        p.requests.push(height)
        if (mode === 'stall') return never()
        if (minority && height > 0) return minority.reply(height)
        const r = served.reply(height)
        if (mode === 'lie-validators' && height > 0) {
          const validators = [...r.validators]
          validators[0] = addressOfKey(10_000 + height)
          return { ...r, validators }
        }
        return r
      },
      headers: () => never(),
      nodes: () => never(),
      proof: () => never(),
      blocks: () => never(),
    },
  }
  return p
}

/**
 * The plain oracle: verifies `blocks` (ascending, contiguous) one by one from `trusted` — each
 * links to the one before, is signed by the set that one announced, with a quorum. Returns the last.
 */
export function verifySequential(
  chainId: number,
  trusted: LightBlock,
  blocks: LightBlockReply[],
): LightBlock {
  let prev = trusted
  for (const r of blocks) {
    const b = lightBlockOf(chainId, r)
    if (b.header.number !== prev.header.number + 1)
      throw new RangeError(`block ${b.header.number} does not follow ${prev.header.number}`)
    checkStep(prev, b)
    verifyHeaderSignatures(chainId, b.signed, b.validators)
    prev = b
  }
  return prev
}
