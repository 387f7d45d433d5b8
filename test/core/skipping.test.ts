/**
 * Skipping verification's state machine (core/light/skipping.ts) over synthetic rotating chains
 * (test/helpers/light-chain.ts): what it fetches, what it refuses and why, and what it costs.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import type { LightBlock } from '../../src/core/chain/header.ts'
import type { LightBlockReply } from '../../src/core/chain/validators.ts'
import {
  type SkipOptions,
  type Skipper,
  startSkip,
  TrustExpiredError,
} from '../../src/core/light/skipping.ts'
import { fork, type LightChain, makeLightChain, signedBy, verifySequential } from '../helpers/light-chain.ts'

const DAY = 86_400

/** Options with the wall clock `offsetSec` after `chain`'s head. */
const opts = (chain: LightChain, offsetSec = 60): SkipOptions => ({
  chainId: chain.chainId,
  trustingPeriodSec: 14 * DAY,
  nowSec: () => chain.header(chain.length).timestamp + offsetSec,
})

/** Runs `sk` to the end with replies from `serve`; returns the head. */
function run(sk: Skipper, serve: (h: number) => LightBlockReply): LightBlock {
  for (;;) {
    const step = sk.next()
    if (step.kind === 'done') return step.head
    sk.take(step.height, serve(step.height))
  }
}

const caught = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('did not throw')
}

describe('skipping verification', () => {
  it('without rotation, skips straight to the target: one light block, signatures stop at the quorum', () => {
    const chain = makeLightChain({ length: 1000 })
    const sk = startSkip(chain.lightBlock(0), 1000, opts(chain))
    const head = run(sk, chain.reply)
    expect(toHex(head.hash)).toBe(toHex(chain.hash(1000)))
    expect(sk.stats()).toEqual({ fetched: 1, signatures: 3, bisections: 0 })
    expect(sk.path().map((b) => b.header.number)).toEqual([0, 1000])
  })

  it('a header signed by a minority of its set: NO_QUORUM from take, nothing kept', () => {
    const chain = makeLightChain({ length: 20 })
    const minority = signedBy(chain, 1, (n) => chain.keysAt(n).slice(0, 2))
    const sk = startSkip(chain.lightBlock(0), 20, opts(chain))
    expect(sk.next()).toEqual({ kind: 'fetch', height: 20 })
    expect(caught(() => sk.take(20, minority.reply(20)))).toMatchObject({
      name: 'ChainError',
      code: 'NO_QUORUM',
    })
    expect(sk.verified().header.number).toBe(0)
    expect(sk.next()).toEqual({ kind: 'fetch', height: 20 })
    // The honest reply, taken after the lie, completes.
    expect(toHex(run(sk, chain.reply).hash)).toBe(toHex(chain.hash(20)))
  })

  it('a new set with less than 1/3 overlap: bisection finds the path, every hop checked', () => {
    // 4 validators, one replaced every 5 blocks: 7 changes below 40, none of the genesis set left.
    const chain = makeLightChain({ length: 40, rotateEvery: 5 })
    const changes = chain.changesBefore(40)
    const sk = startSkip(chain.lightBlock(0), 40, opts(chain))
    const asked: number[] = []
    const head = run(sk, (h) => {
      asked.push(h)
      return chain.reply(h)
    })
    expect(toHex(head.hash)).toBe(toHex(chain.hash(40)))
    const st = sk.stats()
    expect(st.bisections).toBeGreaterThan(0)
    expect(st.fetched).toBe(asked.length)
    expect(st.fetched).toBeLessThanOrEqual(2 * changes * Math.ceil(Math.log2(40)))
    // The path is the same chain the plain oracle accepts, hop by hop.
    const path = sk.path()
    for (let i = 1; i < path.length; i++) {
      const hop = startSkip(path[i - 1]!, path[i]!.header.number, opts(chain))
      expect(run(hop, chain.reply).header.number).toBe(path[i]!.header.number)
      expect(hop.stats().bisections).toBe(0)
    }
  })

  it('a chain with 14 rotations is verified from genesis; its head is the one the sequential oracle reaches', () => {
    const chain = makeLightChain({ length: 150, rotateEvery: 10 })
    expect(chain.changesBefore(150)).toBe(14)
    const sk = startSkip(chain.lightBlock(0), 150, opts(chain))
    const head = run(sk, chain.reply)
    const oracle = verifySequential(
      chain.chainId,
      chain.lightBlock(0),
      Array.from({ length: 150 }, (_, i) => chain.reply(i + 1)),
    )
    expect(toHex(head.hash)).toBe(toHex(oracle.hash))
    // Far fewer than the 150 headers the oracle checked.
    expect(sk.stats().fetched).toBeLessThan(40)
  })

  it('a peer lying about a validator set: BAD_VALIDATOR_SET from take', () => {
    const chain = makeLightChain({ length: 30 })
    const sk = startSkip(chain.lightBlock(0), 30, opts(chain))
    sk.next()
    const r = chain.reply(30)
    const swapped = [...r.validators]
    ;[swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!]
    expect(caught(() => sk.take(30, { ...r, validators: swapped }))).toMatchObject({
      code: 'BAD_VALIDATOR_SET',
    })
    // The other height than asked is the peer's fault too.
    expect(caught(() => sk.take(30, chain.reply(29)))).toMatchObject({ code: 'BAD_PARENT' })
  })

  it('a checkpoint older than the trusting period is refused with a message saying what to do', () => {
    const chain = makeLightChain({ length: 10 })
    const now = chain.header(0).timestamp + 15 * DAY
    const e = caught(() => startSkip(chain.lightBlock(0), 10, { ...opts(chain), nowSec: () => now }))
    expect(e).toBeInstanceOf(TrustExpiredError)
    const err = e as TrustExpiredError
    expect(err.code).toBe('TRUST_EXPIRED')
    expect(err.message).toContain('checkpoint')
    expect(err.message).toContain('14 days')
    expect(err.message).toContain('checkpoint=N:0x')
    expect(err.message).toContain('15 days old')
    expect(err.details).toMatchObject({ which: 'checkpoint', number: 0, periodSec: 14 * DAY })
    // Just inside the period: trusted.
    const inside = chain.header(0).timestamp + 14 * DAY - 1
    expect(() => startSkip(chain.lightBlock(0), 10, { ...opts(chain), nowSec: () => inside })).not.toThrow()
  })

  it('a header dated ahead of this device’s clock: HEADER_FROM_FUTURE, not a ChainError', () => {
    const chain = makeLightChain({ length: 10 })
    const sk = startSkip(chain.lightBlock(0), 10, { ...opts(chain, -3600) })
    sk.next()
    const e = caught(() => sk.take(10, chain.reply(10)))
    expect(e).toMatchObject({ code: 'HEADER_FROM_FUTURE', name: 'HeaderFromFutureError' })
    expect((e as Error).message).toMatch(/clock/)
  })

  describe('a fork signed by validators that have left', () => {
    // All 4 genesis validators are replaced by block 41; the fork from 80 is signed by them and
    // claims their set.
    const chain = makeLightChain({ length: 100, rotateEvery: 10 })
    const forked = fork(chain, 80, [0, 1, 2, 3])

    it('from a recent anchor: it fails the trust level, bisects to adjacency and is refused there', () => {
      const sk = startSkip(chain.lightBlock(45), 100, opts(chain))
      const e = caught(() => run(sk, forked.reply))
      expect(e).toMatchObject({ name: 'ChainError', code: 'BAD_VALIDATOR_SET' })
      expect(sk.verified().header.number).toBe(79)
      expect(sk.stats().bisections).toBeGreaterThan(0)
    })

    it('from the genesis (whose set signed it): refused by the trusting period first', () => {
      const now = chain.header(0).timestamp + 15 * DAY
      const e = caught(() => startSkip(chain.lightBlock(0), 100, { ...opts(chain), nowSec: () => now }))
      expect(e).toMatchObject({ code: 'TRUST_EXPIRED' })
    })
  })

  it('without rotation, 100,000 headers cost one light block and three signatures', () => {
    const flat = makeLightChain({ length: 100_000 })
    const sk = startSkip(flat.lightBlock(0), 100_000, opts(flat))
    expect(toHex(run(sk, flat.reply).hash)).toBe(toHex(flat.hash(100_000)))
    expect(sk.stats().fetched).toBe(1)
    expect(sk.stats().signatures).toBeLessThanOrEqual(3)
  }, 30_000)

  it('with rotations, light blocks fetched stay within ⌈log2⌉ of the gap per change crossed', () => {
    const rotating = makeLightChain({ length: 20_000, rotateEvery: 2000 })
    const changes = rotating.changesBefore(20_000)
    expect(changes).toBe(9)
    const sr = startSkip(rotating.lightBlock(0), 20_000, opts(rotating))
    expect(toHex(run(sr, rotating.reply).hash)).toBe(toHex(rotating.hash(20_000)))
    expect(sr.stats().fetched).toBeLessThanOrEqual(changes * Math.ceil(Math.log2(2 * 2000)))
    expect(sr.stats().bisections).toBeGreaterThan(0)
  }, 10_000)

  it('dropPending: blocks of a failed peer are forgotten, the verified ones stay', () => {
    const chain = makeLightChain({ length: 40, rotateEvery: 5 })
    const sk = startSkip(chain.lightBlock(0), 40, opts(chain))
    // Take replies until something is verified beyond the anchor, with pending blocks above it.
    for (;;) {
      const step = sk.next()
      if (step.kind === 'done') throw new Error('ended early')
      sk.take(step.height, chain.reply(step.height))
      if (sk.verified().header.number > 0) break
    }
    const at = sk.verified().header.number
    sk.dropPending()
    expect(sk.next()).toEqual({ kind: 'fetch', height: 40 })
    expect(sk.verified().header.number).toBe(at)
    expect(toHex(run(sk, chain.reply).hash)).toBe(toHex(chain.hash(40)))
  })
})
