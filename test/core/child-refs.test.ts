/**
 * The sync's allocation-free reference scan (sync/node-refs.ts `scanRefs`, trie/node.ts `scanNode`,
 * rlp-decode.ts `readRlpItem`) against the full decoders it stands in for, `childRefs(decodeNode(b),
 * trie, accountRefs)`: on real trie nodes, hand-built nodes of every shape and byte-level mutations of
 * both. Wherever the scan answers, the decoders must accept the node and give the same references in
 * the same order (with the depths and key space the engine derives from them); the scan may decline
 * (then the engine uses the decoders), but it must answer for the common shapes.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { accountRefs, EMPTY_CODE_HASH, EMPTY_ROOT, encodeAccount } from '../../src/core/account.ts'
import { toHex } from '../../src/core/bytes.ts'
import { generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { createRng, type Rng } from '../../src/core/chain/rng.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { rlpEncode } from '../../src/core/rlp.ts'
import { decodeRlpView, readRlpItem, rlpAt } from '../../src/core/rlp-decode.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { fastChildRefs, newRefScan, scanRefs } from '../../src/core/sync/node-refs.ts'
import { childRefs, decodeNode, type TrieKind, type TrieNode } from '../../src/core/trie/node.ts'
import { Trie } from '../../src/core/trie/trie.ts'

type Outcome = { ok: true; refs: string[] } | { ok: false }

function slow(b: Uint8Array, trie: TrieKind): Outcome {
  try {
    return {
      ok: true,
      refs: childRefs(decodeNode(b), trie, accountRefs).map((r) => `${r.kind}:${toHex(r.hash)}`),
    }
  } catch {
    return { ok: false }
  }
}

const stats = { inputs: 0, fast: 0, slowOk: 0 }

/** The scan's answer must agree with the decoders'; returns whether the scan answered. */
function check(b: Uint8Array, trie: TrieKind): boolean {
  stats.inputs++
  const s = slow(b, trie)
  const f = fastChildRefs(b, trie)
  if (s.ok) stats.slowOk++
  if (f === null) return false
  stats.fast++
  if (!s.ok) throw new Error(`scan accepted a node the decoders reject: ${toHex(b)} (${trie})`)
  expect(f.map((r) => `${r.kind}:${toHex(r.hash)}`)).toEqual(s.refs)
  // Depths and key space: as the engine's decoder path derives them from the node.
  const r = newRefScan()
  expect(scanRefs(b, trie, r)).toBe(true)
  const node = decodeNode(b)
  for (let i = 0; i < r.n; i++) {
    const want =
      r.kind[i] === trie
        ? node.kind === 'branch'
          ? 1
          : node.kind === 'extension'
            ? node.path.length
            : Number.NaN
        : 1 // an account's storage root and code: one nibble below its leaf
    expect(r.depthDelta[i]).toBe(want)
  }
  const closed =
    trie !== 'state'
      ? 0
      : node.kind === 'leaf'
        ? 1
        : node.kind === 'branch'
          ? node.children.filter((c: TrieNode | null) => c === null).length
          : 0
  expect(r.closed).toBe(closed)
  if (closed) expect(r.closedDelta).toBe(node.kind === 'branch' ? 1 : 0)
  return true
}

/** Byte-level mutations: flip, set, insert, delete, truncate, extend, and length-prefix tweaks. */
function mutate(rng: Rng, b: Uint8Array): Uint8Array {
  const a = Array.from(b)
  const n = 1 + rng.int(3)
  for (let k = 0; k < n; k++) {
    const i = a.length ? rng.int(a.length) : 0
    switch (rng.int(8)) {
      case 0:
        a[i] = (a[i] ?? 0) ^ (1 << rng.int(8))
        break
      case 1:
        a[i] = rng.int(256)
        break
      case 2:
        a.splice(i, 0, rng.int(256))
        break
      case 3:
        a.splice(i, 1)
        break
      case 4:
        a.length = rng.int(a.length + 1)
        break
      case 5:
        a.push(...rng.bytes(1 + rng.int(4)))
        break
      case 6:
        a[i] = [0x80, 0x81, 0xa0, 0xb8, 0xc0, 0xf7, 0xf8, 0x00, 0x20, 0x3f][rng.int(10)]!
        break
      default:
        a[0] = (a[0] ?? 0) + (rng.int(2) ? 1 : -1)
    }
  }
  return Uint8Array.from(a.map((x) => x & 255))
}

async function trieNodes(entries: [Uint8Array, Uint8Array][]): Promise<Uint8Array[]> {
  const t = new Trie(new MemoryNodeStore(), { secure: false })
  for (const [k, v] of entries) await t.put(k, v)
  return t.pendingNodes().nodes.map(([, enc]) => enc)
}

function randomAccount(rng: Rng): Uint8Array {
  return encodeAccount({
    nonce: rng.int(3) ? BigInt(rng.int(1000)) : 0n,
    balance: rng.int(4) ? BigInt(rng.u32()) * BigInt(rng.u32()) : 0n,
    storageRoot: rng.int(2) ? EMPTY_ROOT : rng.bytes(32),
    codeHash: rng.int(2) ? EMPTY_CODE_HASH : rng.bytes(32),
  })
}

/** An RLP header for a payload of `len`, sometimes in a non-canonical form the decoders must reject. */
function header(rng: Rng, len: number, list: boolean): number[] {
  const short = list ? 0xc0 : 0x80
  const long = list ? 0xf7 : 0xb7
  const form = rng.int(12)
  if (form === 0) return [long + 1, len & 255] // long form (non-canonical under 56)
  if (form === 1) return [long + 2, 0, len & 255] // leading zero in the length
  if (len < 56) return [short + len]
  const bytes: number[] = []
  for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 255)
  return [long + bytes.length, ...bytes]
}

function rawString(rng: Rng, b: Uint8Array): number[] {
  if (b.length === 1 && b[0]! < 0x80 && rng.int(6)) return [b[0]!]
  return [...header(rng, b.length, false), ...b]
}

/** An account value built byte by byte: integers of odd sizes and leading zeros, hashes of odd lengths. */
function rawAccount(rng: Rng): Uint8Array {
  const int = (max: number): Uint8Array => {
    const b = rng.bytes(rng.int(max + 3))
    if (b.length && rng.int(3)) b[0] = b[0]! | 1
    return b
  }
  const hash = (empty: Uint8Array): Uint8Array =>
    rng.int(3) === 0 ? empty : rng.int(8) ? rng.bytes(32) : rng.bytes(rng.int(40))
  const items = [int(8), int(32), hash(EMPTY_ROOT), hash(EMPTY_CODE_HASH)]
  if (rng.int(15) === 0) items.splice(rng.int(4), 1)
  if (rng.int(15) === 0) items.push(rng.bytes(rng.int(3)))
  const payload = items.flatMap((x) => rawString(rng, x))
  return Uint8Array.from([...header(rng, payload.length, true), ...payload])
}

/** A leaf whose value is a `rawAccount`, itself encoded byte by byte. */
function rawLeaf(rng: Rng): Uint8Array {
  const hp = Uint8Array.of(0x20, ...rng.bytes(rng.int(32)))
  const payload = [...rawString(rng, hp), ...rawString(rng, rawAccount(rng))]
  return Uint8Array.from([...header(rng, payload.length, true), ...payload])
}

/** Hand-built nodes of every shape, valid or not: children empty, hashed, inline, or of odd lengths. */
function randomNode(rng: Rng): Uint8Array {
  const child = (): Uint8Array | unknown[] => {
    switch (rng.int(6)) {
      case 0:
      case 1:
        return new Uint8Array(0)
      case 2:
      case 3:
        return rng.bytes(32)
      case 4:
        return [Uint8Array.of(0x20 | rng.int(16)), rng.bytes(1 + rng.int(8))] // an inline leaf
      default:
        return rng.bytes(rng.int(40)) // a reference of the wrong length (mostly)
    }
  }
  const path = (leaf: boolean): Uint8Array => {
    const odd = rng.int(2)
    const nib = rng.int(10) ? 0 : rng.int(16)
    const head = (((leaf ? 2 : 0) | odd) << 4) | (odd ? rng.int(16) : nib)
    return Uint8Array.of(rng.int(20) ? head : rng.int(256), ...rng.bytes(rng.int(33)))
  }
  const value = (): Uint8Array =>
    rng.int(3) ? randomAccount(rng) : rng.int(2) ? rng.bytes(rng.int(60)) : new Uint8Array(0)
  switch (rng.int(4)) {
    case 0:
      return rlpEncode([path(true), value()] as never)
    case 1:
      return rlpEncode([path(false), child()] as never)
    default: {
      const items: unknown[] = Array.from({ length: 16 }, child)
      items.push(rng.int(4) ? new Uint8Array(0) : value())
      if (rng.int(10) === 0) items.splice(rng.int(17), 1)
      return rlpEncode(items as never)
    }
  }
}

describe('allocation-free child references (the sync fast path) agree with decodeNode + childRefs', () => {
  it('on every node of a devnet state (account and storage tries), and answers for all of them', () => {
    const { genesis } = generateDevnet({ seed: 'child-refs', accounts: 2000, contracts: 20, slots: 30 })
    const nodes: Uint8Array[] = []
    const code = new Set<string>()
    genesisStateRoot(genesis, (h, b) => {
      nodes.push(b)
      if (genesis.alloc.some(([, a]) => a.code.length && toHex(keccak256(a.code)) === toHex(h)))
        code.add(toHex(h))
    })
    let answered = 0
    let tried = 0
    for (const b of nodes) {
      if (code.has(toHex(keccak256(b)))) continue
      // Each node is tried as both kinds: a storage leaf's value is not an account (declined then).
      const asState = slow(b, 'state').ok
      tried++
      if (check(b, asState ? 'state' : 'storage')) answered++
      check(b, 'storage')
    }
    expect(answered).toBe(tried)
  })

  it('on random tries with inline nodes, short paths and shared prefixes', async () => {
    const rng = createRng('child-refs/tries')
    let answered = 0
    let total = 0
    for (let round = 0; round < 40; round++) {
      const entries: [Uint8Array, Uint8Array][] = []
      const n = 1 + rng.int(60)
      for (let i = 0; i < n; i++) {
        const k = round % 2 ? rng.bytes(1 + rng.int(4)).map((x) => x % 4) : rng.bytes(32)
        entries.push([k, round % 3 ? randomAccount(rng) : rng.bytes(1 + rng.int(6))])
      }
      for (const b of await trieNodes(entries)) {
        for (const trie of ['state', 'storage'] as const) {
          total++
          if (check(b, trie)) answered++
        }
      }
    }
    expect(answered).toBeGreaterThan(total / 4)
  })

  it('on hand-built nodes of every shape and on mutations of real and hand-built nodes', async () => {
    const rng = createRng('child-refs/mutations')
    const corpus: Uint8Array[] = []
    const { genesis } = generateDevnet({ seed: 'child-refs-m', accounts: 300, contracts: 5, slots: 20 })
    genesisStateRoot(genesis, (_, b) => corpus.push(b))
    corpus.push(
      ...(await trieNodes(Array.from({ length: 30 }, (_, i) => [Uint8Array.of(i % 5, i), rng.bytes(3)]))),
    )
    const before = { ...stats }
    for (let i = 0; i < 60_000; i++) {
      const base =
        i % 3 === 0 ? randomNode(rng) : i % 3 === 1 ? rawLeaf(rng) : corpus[rng.int(corpus.length)]!
      const b = i % 3 !== 2 && rng.int(2) ? base : mutate(rng, base)
      check(b, rng.int(2) ? 'state' : 'storage')
    }
    // Both sides are exercised: accepted mutants, and inputs only the decoders accept or nobody does.
    expect(stats.fast - before.fast).toBeGreaterThan(2000)
    expect(stats.inputs - before.inputs - (stats.slowOk - before.slowOk)).toBeGreaterThan(10_000)
  })

  it('fast-check: random bytes never get an answer the decoders would not give', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (b, state) => {
        check(b, state ? 'state' : 'storage')
      }),
      { numRuns: 3000 },
    )
  })
})

describe('readRlpItem agrees with decodeRlpView on a single item', () => {
  it('accepts a string exactly where the full decoder does, with the same payload', () => {
    const rng = createRng('child-refs/rlp')
    const seeds = [
      rlpEncode(rng.bytes(1)),
      rlpEncode(rng.bytes(30)),
      rlpEncode(rng.bytes(70)),
      rlpEncode([rng.bytes(3), rng.bytes(60)] as never),
      rlpEncode(new Uint8Array(0)),
      Uint8Array.of(0x05),
    ]
    let accepted = 0
    for (let i = 0; i < 30_000; i++) {
      const b = i < seeds.length ? seeds[i]! : mutate(rng, seeds[rng.int(seeds.length)]!)
      let full: ReturnType<typeof decodeRlpView> | null = null
      try {
        full = decodeRlpView(b)
      } catch {}
      const ok = readRlpItem(b, 0, b.length) && rlpAt.end === b.length
      if (ok && !rlpAt.list) {
        accepted++
        expect(full).toBeInstanceOf(Uint8Array)
        expect(toHex(full as Uint8Array)).toBe(toHex(b.subarray(rlpAt.start, rlpAt.end)))
      }
      if (full instanceof Uint8Array) expect(ok && !rlpAt.list).toBe(true)
      // A list the full decoder accepts has a header readRlpItem accepts.
      if (Array.isArray(full)) expect(ok && rlpAt.list).toBe(true)
    }
    expect(accepted).toBeGreaterThan(1000)
  })
})
