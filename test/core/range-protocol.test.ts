/**
 * The range protocol's codec (`/rootsync/range/1`): round trips, strict rejection of malformed
 * requests and replies, and the client's verify loop over real tries — replies served by
 * `serveRange`, carried through the codec, checked by `verifyRangeProof`, chained by origin = last
 * key + 1 until the proof says there is no more — covering every leaf of an account trie and of a
 * storage trie.
 */
import { describe, expect, it } from 'vitest'
import { EMPTY_CODE_HASH, EMPTY_ROOT, encodeAccount, encodeStorageValue } from '../../src/core/account.ts'
import { toHex } from '../../src/core/bytes.ts'
import { ProofError, RlpError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import * as m from '../../src/core/protocol/messages.ts'
import * as r from '../../src/core/protocol/range.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyRangeProof } from '../../src/core/trie/range-proof.ts'
import { serveRange } from '../../src/core/trie/range-serve.ts'
import { Trie } from '../../src/core/trie/trie.ts'

const h = (b: number) => new Uint8Array(32).fill(b)
const ZERO = h(0)
const END = r.LAST_KEY

describe('range protocol codec', () => {
  it('round-trips account and storage range requests, code requests and both replies', () => {
    const acc: r.RangeRequest = { root: h(1), origin: h(2), limit: h(3), maxBytes: 500_000 }
    expect(r.decodeRangeProtocolRequest(r.encodeRangeRequest(acc))).toEqual({ kind: 'range', req: acc })
    const sto: r.RangeRequest = { ...acc, account: h(9) }
    expect(r.decodeRangeProtocolRequest(r.encodeRangeRequest(sto))).toEqual({ kind: 'range', req: sto })
    expect(r.decodeRangeProtocolRequest(r.encodeCodeRequest([h(4), h(5)]))).toEqual({
      kind: 'code',
      hashes: [h(4), h(5)],
    })
    const reply = { keys: [h(1), h(2)], values: [Uint8Array.of(1, 2), Uint8Array.of(3)], proof: [h(7)] }
    expect(r.decodeRangeResponse(r.encodeRangeResponse(reply))).toEqual(reply)
    const empty = { keys: [], values: [], proof: [] }
    expect(r.decodeRangeResponse(r.encodeRangeResponse(empty))).toEqual(empty)
    const codes = [Uint8Array.of(0x60, 0x00), new Uint8Array()]
    expect(r.decodeCodeResponse(r.encodeCodeResponse(codes), 3)).toEqual(codes)
  })

  it('a decoded reply owns its bytes, even decoded from a Node Buffer (whose slice() is a view)', () => {
    const reply = { keys: [h(1)], values: [Uint8Array.of(1, 2)], proof: [h(7)] }
    const buf = Buffer.from(r.encodeRangeResponse(reply))
    const got = r.decodeRangeResponse(buf)
    const codeBuf = Buffer.from(r.encodeCodeResponse([Uint8Array.of(9, 9)]))
    const code = r.decodeCodeResponse(codeBuf, 1)
    buf.fill(0)
    codeBuf.fill(0)
    expect(got).toEqual(reply)
    expect(code).toEqual([Uint8Array.of(9, 9)])
    const k = Buffer.from(h(1))
    r.keyAfter(k)
    expect(new Uint8Array(k)).toEqual(h(1))
  })

  it('rejects malformed requests: RlpError for shapes, BAD_REQUEST/TOO_MANY_ITEMS for rule breaks', () => {
    const bad = (items: Parameters<typeof rlpEncode>[0]) => () =>
      r.decodeRangeProtocolRequest(rlpEncode(items))
    expect(bad([0, new Uint8Array(31), h(1), h(2), 10])).toThrow(RlpError) // short root
    expect(bad([0, h(1), new Uint8Array(33), h(2), 10])).toThrow(RlpError) // long origin
    expect(bad([0, h(1), h(1), h(2)])).toThrow(RlpError) // missing maxBytes
    expect(bad([0, h(1), h(1), h(2), 10, 11])).toThrow(RlpError) // one item too many
    expect(bad([1, h(1), h(1), h(2), 10])).toThrow(RlpError) // storage range without its account
    expect(bad([1, h(1), new Uint8Array(20), h(1), h(2), 10])).toThrow(RlpError) // address, not hashed key
    expect(bad([0, h(1), h(1), h(2), Uint8Array.of(0, 1)])).toThrow(RlpError) // non-canonical integer
    expect(bad([3, h(1)])).toThrow(RlpError) // unknown kind
    expect(bad([2, [h(1), new Uint8Array(5)]])).toThrow(RlpError) // short code hash
    expect(bad([2, h(1)])).toThrow(RlpError) // hashes not a list
    expect(bad([])).toThrow(RlpError)
    expect(bad([0, h(1), h(3), h(2), 10])).toThrow(expect.objectContaining({ status: m.Status.BAD_REQUEST }))
    expect(bad([2, []])).toThrow(expect.objectContaining({ status: m.Status.BAD_REQUEST }))
    const many = Array.from({ length: m.LIMITS.maxCodeHashes + 1 }, () => h(1))
    expect(bad([2, many])).toThrow(expect.objectContaining({ status: m.Status.TOO_MANY_ITEMS }))
    expect(() => r.decodeRangeProtocolRequest(r.encodeCodeRequest([h(1), h(2)]), 1)).toThrow(
      expect.objectContaining({ status: m.Status.TOO_MANY_ITEMS }),
    )
    expect(() => r.decodeRangeProtocolRequest(new Uint8Array(m.LIMITS.maxRequestBytes + 1))).toThrow(
      expect.objectContaining({ status: m.Status.BAD_REQUEST }),
    )
  })

  it('rejects malformed replies with RlpError: lengths, pairing and counts over the limits', () => {
    const reply = (payload: Parameters<typeof rlpEncode>[0]) => () =>
      r.decodeRangeResponse(rlpEncode([0, payload]))
    expect(reply([[h(1)], [Uint8Array.of(1)], []])).not.toThrow()
    expect(reply([[new Uint8Array(31)], [Uint8Array.of(1)], []])).toThrow(RlpError)
    expect(reply([[h(1), h(2)], [Uint8Array.of(1)], []])).toThrow(RlpError)
    expect(reply([[h(1)], [[Uint8Array.of(1)]], []])).toThrow(RlpError) // a value that is a list
    expect(reply([[h(1)], [Uint8Array.of(1)]])).toThrow(RlpError)
    expect(reply([[h(1)], [Uint8Array.of(1)], [[h(2)]]])).toThrow(RlpError) // a proof node that is a list
    const n = m.LIMITS.maxRangeLeaves + 1
    expect(reply([Array.from({ length: n }, () => h(1)), Array.from({ length: n }, () => h(1)), []])).toThrow(
      RlpError,
    )
    expect(reply([[], [], Array.from({ length: m.LIMITS.maxRangeProofNodes + 1 }, () => h(1))])).toThrow(
      RlpError,
    )
    expect(() => r.decodeCodeResponse(r.encodeCodeResponse([h(1), h(2)]), 1)).toThrow(RlpError)
    expect(() => r.decodeCodeResponse(rlpEncode([0, [[h(1)]]]), 1)).toThrow(RlpError)
  })

  it('keyAfter steps to the next 32-byte key, carrying, and ends past the last key', () => {
    expect(toHex(r.keyAfter(h(0))!)).toBe(toHex(Uint8Array.from([...new Uint8Array(31), 1])))
    expect(toHex(r.keyAfter(Uint8Array.from([...new Uint8Array(30), 1, 0xff]))!)).toBe(
      toHex(Uint8Array.from([...new Uint8Array(30), 2, 0])),
    )
    expect(r.keyAfter(r.LAST_KEY)).toBeNull()
  })

  it('an error reply surfaces as a ProtocolError; UNAVAILABLE is told apart by isUnavailable', () => {
    const unavailable = m.encodeError(m.Status.UNAVAILABLE, 'not in the last 128 blocks')
    let caught: unknown
    try {
      r.decodeRangeResponse(unavailable)
    } catch (e) {
      caught = e
    }
    expect(caught).toBeInstanceOf(m.ProtocolError)
    expect((caught as m.ProtocolError).code).toBe('PROTOCOL_UNAVAILABLE')
    expect(r.isUnavailable(caught)).toBe(true)
    expect(() => r.decodeCodeResponse(unavailable, 1)).toThrow(expect.objectContaining({ status: 3 }))
    const internal = m.encodeError(m.Status.INTERNAL, 'x')
    expect(() => r.decodeRangeResponse(internal)).toThrow(m.ProtocolError)
    let other: unknown
    try {
      r.decodeRangeResponse(internal)
    } catch (e) {
      other = e
    }
    expect(r.isUnavailable(other)).toBe(false)
    expect(r.isUnavailable(new RlpError('x'))).toBe(false)
  })
})

/** An account trie of `n` accounts (keys are hashed), every 25th with a storage trie of its own. */
async function buildState(n: number) {
  const store = new MemoryNodeStore()
  const storage = new Trie(store)
  const slots = 300
  for (let i = 0; i < slots; i++)
    await storage.put(keccak256(Uint8Array.of(i >> 8, i & 255)), encodeStorageValue(h(i % 250 || 1)))
  const storageRoot = await storage.commit()
  const accounts = new Trie(store)
  const keys: string[] = []
  for (let i = 0; i < n; i++) {
    const key = keccak256(Uint8Array.of(7, i >> 8, i & 255))
    keys.push(toHex(key))
    await accounts.put(
      key,
      encodeAccount({
        nonce: BigInt(i),
        balance: BigInt(i) * 10n ** 15n,
        storageRoot: i % 25 === 0 ? storageRoot : EMPTY_ROOT,
        codeHash: EMPTY_CODE_HASH,
      }),
    )
  }
  const root = await accounts.commit()
  return { store, root, keys: keys.sort(), storageRoot, slots }
}

/** The client's loop: ask, decode, verify, continue after the last key until the proof says done. */
async function fetchAll(store: MemoryNodeStore, root: Uint8Array, maxBytes: number, maxLeaves: number) {
  const got: string[] = []
  let origin: Uint8Array | null = ZERO
  let replies = 0
  while (origin) {
    const req = r.decodeRangeProtocolRequest(r.encodeRangeRequest({ root, origin, limit: END, maxBytes }))
    if (req.kind !== 'range') throw new Error('not a range request')
    const served = await serveRange(store, root, req.req.origin, req.req.limit, { maxBytes, maxLeaves })
    const reply = r.decodeRangeResponse(r.encodeRangeResponse(served))
    const { hasMore } = verifyRangeProof(root, origin, reply.keys, reply.values, reply.proof)
    replies++
    got.push(...reply.keys.map(toHex))
    origin = hasMore ? r.keyAfter(reply.keys[reply.keys.length - 1]!) : null
  }
  return { got, replies }
}

describe('range protocol: the client verify loop over real tries', () => {
  it('chained ranges cover every account exactly once, in order, each reply verified', async () => {
    const s = await buildState(1200)
    const { got, replies } = await fetchAll(s.store, s.root, 8 * 1024, 1000)
    expect(got).toEqual(s.keys)
    expect(replies).toBeGreaterThan(5) // the byte cap really split the trie
  })

  it('chained ranges cover a storage trie, and the leaf cap splits it too', async () => {
    const s = await buildState(30)
    const { got, replies } = await fetchAll(s.store, s.storageRoot, 1024 * 1024, 64)
    expect(got).toHaveLength(s.slots)
    expect([...got].sort()).toEqual(got)
    expect(new Set(got).size).toBe(s.slots)
    expect(replies).toBe(Math.ceil(s.slots / 64))
  })

  it('a reply that is the whole trie needs no proof; the empty trie verifies with nothing', async () => {
    const s = await buildState(3)
    const whole = await serveRange(s.store, s.root, ZERO, END, { maxBytes: 1 << 20, maxLeaves: 100 })
    expect(whole.keys).toHaveLength(3)
    expect(verifyRangeProof(s.root, ZERO, whole.keys, whole.values, []).hasMore).toBe(false)
    const empty = await serveRange(s.store, EMPTY_ROOT, ZERO, END, { maxBytes: 1 << 20, maxLeaves: 100 })
    expect(empty.keys).toHaveLength(0)
    expect(verifyRangeProof(EMPTY_ROOT, ZERO, empty.keys, empty.values, empty.proof).hasMore).toBe(false)
  })

  it('a reply with one leaf dropped from its middle does not verify', async () => {
    const s = await buildState(200)
    const served = await serveRange(s.store, s.root, ZERO, END, { maxBytes: 4096, maxLeaves: 1000 })
    expect(served.keys.length).toBeGreaterThan(3)
    const mid = served.keys.length >> 1
    const keys = served.keys.filter((_, i) => i !== mid)
    const values = served.values.filter((_, i) => i !== mid)
    expect(() => verifyRangeProof(s.root, ZERO, keys, values, served.proof)).toThrow(ProofError)
  })
})
