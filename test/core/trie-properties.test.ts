/**
 * Differential tests: our trie against @ethereumjs/mpt (dev-only oracle) on random operation
 * sequences, and our range-proof verifier against gapped, reordered and extended ranges.
 */
import { createMerkleProof, createMPT, verifyMerkleProof } from '@ethereumjs/mpt'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compare, toHex } from '../../src/core/bytes.ts'
import { ProofError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyProof } from '../../src/core/trie/proof.ts'
import { proveChained, verifyRangeProof } from '../../src/core/trie/range-proof.ts'
import { buildRoot, createRootBuilder, type RootBuilder } from '../../src/core/trie/root-builder.ts'
import { Trie } from '../../src/core/trie/trie.ts'

const NUM_RUNS = 60

// Short keys from a tiny alphabet collide, share prefixes and end inside other keys' paths. Keys are
// never empty in Ethereum tries, and @ethereumjs/mpt mishandles deleting the empty key, so none here.
const key = fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => a.map((b) => b % 4))
const value = fc.uint8Array({ minLength: 1, maxLength: 40 })
const op = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key, value }),
  fc.record({ type: fc.constant('del' as const), key }),
)

describe('trie agrees with @ethereumjs/mpt', () => {
  for (const secure of [false, true]) {
    it(`roots and proofs over random insert/delete sequences (secure: ${secure})`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(op, { maxLength: 60 }),
          fc.array(key, { maxLength: 8 }),
          async (ops, probes) => {
            const ours = new Trie(new MemoryNodeStore(), { secure })
            const theirs = await createMPT({ useKeyHashing: secure })
            const keys: Uint8Array[] = []
            for (const o of ops) {
              if (o.type === 'put') {
                await ours.put(o.key, o.value)
                await theirs.put(o.key, o.value)
                keys.push(o.key)
              } else {
                await ours.del(o.key)
                await theirs.del(o.key)
              }
            }
            expect(toHex(ours.root())).toBe(toHex(theirs.root()))
            for (const k of [...keys.slice(0, 8), ...probes]) {
              // Ours lists hashed nodes only (as geth and EIP-1186 do); @ethereumjs/mpt also lists
              // inlined ones. So: ours ⊆ theirs, and each side's proof verifies on the other side.
              const p = await ours.prove(k)
              const q = await createMerkleProof(theirs, k)
              const theirSet = new Set(q.map(toHex))
              for (const n of p) expect(theirSet.has(toHex(n))).toBe(true)
              const want = await theirs.get(k)
              const hex = (v: Uint8Array | null | undefined) => (v ? toHex(v) : null)
              const trieKey = secure ? keccak256(k) : k
              expect(hex(verifyProof(ours.root(), trieKey, p))).toBe(hex(want))
              expect(hex(verifyProof(ours.root(), trieKey, q))).toBe(hex(want))
              if (p.length)
                expect(hex(await verifyMerkleProof(k, p, { useKeyHashing: secure }))).toBe(hex(want))
            }
          },
        ),
        { numRuns: NUM_RUNS, seed: 42 },
      )
    })
  }

  it('a committed trie reopened from its root continues to agree', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.array(op, { maxLength: 40 }), async (a, b) => {
        const store = new MemoryNodeStore()
        const first = new Trie(store)
        const theirs = await createMPT()
        for (const o of a) {
          if (o.type === 'put') await Promise.all([first.put(o.key, o.value), theirs.put(o.key, o.value)])
          else await Promise.all([first.del(o.key), theirs.del(o.key)])
        }
        const root = await first.commit()
        const reopened = new Trie(store, { root })
        for (const o of b) {
          if (o.type === 'put') await Promise.all([reopened.put(o.key, o.value), theirs.put(o.key, o.value)])
          else await Promise.all([reopened.del(o.key), theirs.del(o.key)])
        }
        expect(toHex(reopened.root())).toBe(toHex(theirs.root()))
      }),
      { numRuns: NUM_RUNS, seed: 7 },
    )
  })
})

describe('concurrent writes', () => {
  it('puts issued together on a stored trie all land (no lost updates while nodes load)', async () => {
    const store = new MemoryNodeStore()
    const t = new Trie(store, { secure: true })
    for (let i = 0; i < 50; i++) await t.put(Uint8Array.of(i), Uint8Array.of(1, i))
    const reopened = new Trie(store, { secure: true, root: await t.commit() })
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => reopened.put(Uint8Array.of(100 + i), Uint8Array.of(2, i))),
    )
    for (let i = 0; i < 20; i++)
      expect(await reopened.get(Uint8Array.of(100 + i))).toEqual(Uint8Array.of(2, i))
    for (let i = 0; i < 50; i++) expect(await reopened.get(Uint8Array.of(i))).toEqual(Uint8Array.of(1, i))
  })
})

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const entries = fc
  .uniqueArray(fc.tuple(key32, fc.uint8Array({ minLength: 1, maxLength: 70 })), {
    minLength: 1,
    maxLength: 120,
    selector: ([k]) => toHex(k),
  })
  .map((es) => es.sort((x, y) => compare(x[0], y[0])))

async function trieOf(es: [Uint8Array, Uint8Array][]): Promise<Trie> {
  const t = new Trie(new MemoryNodeStore())
  for (const [k, v] of es) await t.put(k, v)
  return t
}

describe('stack root builder', () => {
  it('gives the same root as inserting, and emits every hashed node', async () => {
    await fc.assert(
      fc.asyncProperty(entries, async (es) => {
        const t = await trieOf(es)
        const emitted = new Map<string, Uint8Array>()
        const root = buildRoot(es, (h, enc) => emitted.set(toHex(h), enc))
        expect(toHex(root)).toBe(toHex(t.root()))
        const { nodes } = t.pendingNodes()
        expect(new Set(emitted.keys())).toEqual(new Set(nodes.map(([h]) => toHex(h))))
      }),
      { numRuns: NUM_RUNS, seed: 3 },
    )
  })
})

describe('range proofs', () => {
  const range = entries.chain((es) =>
    fc.record({ es: fc.constant(es), i: fc.nat(es.length - 1), len: fc.nat(es.length), below: fc.boolean() }),
  )

  async function setup(es: [Uint8Array, Uint8Array][], i: number, len: number, below: boolean) {
    const t = await trieOf(es)
    const j = Math.min(es.length - 1, i + Math.max(len, 1) - 1)
    const slice = es.slice(i, j + 1)
    // The origin is the first key, or a key just below it (absent from the trie) when possible.
    const origin = slice[0]![0].slice()
    if (below) {
      for (let b = 31; b >= 0; b--) {
        if (origin[b]! > 0) {
          origin[b]!--
          break
        }
        origin[b] = 255
      }
      if (i > 0 && compare(origin, es[i - 1]![0]) <= 0) origin.set(slice[0]![0])
    }
    const proof = [...(await t.prove(origin)), ...(await t.prove(slice[slice.length - 1]![0]))]
    return {
      root: t.root(),
      origin,
      keys: slice.map(([k]) => k),
      values: slice.map(([, v]) => v),
      proof,
      hasMore: j < es.length - 1,
    }
  }

  it('accepts every true range and reports whether more leaves follow', async () => {
    await fc.assert(
      fc.asyncProperty(range, async ({ es, i, len, below }) => {
        const r = await setup(es, i, len, below)
        expect(verifyRangeProof(r.root, r.origin, r.keys, r.values, r.proof)).toEqual({ hasMore: r.hasMore })
      }),
      { numRuns: NUM_RUNS, seed: 11 },
    )
  })

  it('rejects gapped, reordered, extended and altered ranges', async () => {
    await fc.assert(
      fc.asyncProperty(
        range,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        async ({ es, i, len, below }, extra) => {
          const r = await setup(es, i, len, below)
          const reject = (keys: Uint8Array[], values: Uint8Array[]) =>
            expect(() => verifyRangeProof(r.root, r.origin, keys, values, r.proof)).toThrow(ProofError)
          const n = r.keys.length
          if (n >= 3)
            reject(
              [...r.keys.slice(0, 1), ...r.keys.slice(2)],
              [...r.values.slice(0, 1), ...r.values.slice(2)],
            )
          if (n >= 2) {
            reject(
              [r.keys[1]!, r.keys[0]!, ...r.keys.slice(2)],
              [r.values[1]!, r.values[0]!, ...r.values.slice(2)],
            )
          }
          // An extra leaf the trie does not have, placed in order inside or after the range.
          if (!es.some(([k]) => compare(k, extra) === 0) && compare(extra, r.origin) >= 0) {
            const all = [
              ...r.keys.map((k, x) => [k, r.values[x]!] as const),
              [extra, Uint8Array.of(1)] as const,
            ].sort((a, b) => compare(a[0], b[0]))
            reject(
              all.map(([k]) => k),
              all.map(([, v]) => v),
            )
          }
          // The next real leaf appended: the range is extended past what the edge proof covers.
          const next = es[i + n]
          if (next) reject([...r.keys, next[0]], [...r.values, next[1]])
          const altered = r.values.map((v) => v.slice())
          altered[n - 1]![0]! ^= 1
          reject(r.keys, altered)
        },
      ),
      { numRuns: NUM_RUNS, seed: 13 },
    )
  })

  it('proves the end of the trie with an empty range', async () => {
    await fc.assert(
      fc.asyncProperty(entries, async (es) => {
        const t = await trieOf(es)
        const last = es[es.length - 1]![0]
        const origin = last.slice()
        if (origin[31] === 255) return
        origin[31]!++
        const proof = await t.prove(origin)
        expect(verifyRangeProof(t.root(), origin, [], [], proof)).toEqual({ hasMore: false })
        // From the last key's own position, claiming "nothing more" is a lie.
        const lastProof = await t.prove(last)
        expect(() => verifyRangeProof(t.root(), last, [], [], lastProof)).toThrow(ProofError)
      }),
      { numRuns: NUM_RUNS, seed: 17 },
    )
  })
})

describe('chained range proofs', () => {
  // Keys sharing long prefixes and short values: deep branches, extensions and inline nodes on the edges.
  const dense = fc
    .uniqueArray(
      fc.tuple(
        fc.uint8Array({ minLength: 3, maxLength: 3 }).map((t) => {
          const k = new Uint8Array(32)
          k[0] = t[0]! % 2
          k[30] = t[1]! % 5
          k[31] = t[2]! % 7
          return k
        }),
        fc.uint8Array({ minLength: 1, maxLength: 3 }),
      ),
      { minLength: 1, maxLength: 60, selector: ([k]) => toHex(k) },
    )
    .map((es) => es.sort((x, y) => compare(x[0], y[0])))
  const split = fc
    .oneof(entries, dense)
    .chain((es) =>
      fc.record({ es: fc.constant(es), cuts: fc.uniqueArray(fc.nat(es.length - 1), { maxLength: 6 }) }),
    )

  /** The trie of `es` read in ranges ending before each cut, each with its edge proofs. */
  async function ranges(es: [Uint8Array, Uint8Array][], cuts: number[]) {
    const t = await trieOf(es)
    const ends = [...new Set([...cuts, es.length - 1])].sort((a, b) => a - b)
    const out: { origin: Uint8Array; keys: Uint8Array[]; values: Uint8Array[]; proof: Uint8Array[] }[] = []
    let from = 0
    for (const end of ends) {
      const slice = es.slice(from, end + 1)
      const origin = from === 0 ? new Uint8Array(32) : es[from]![0]
      const proof = [...(await t.prove(origin)), ...(await t.prove(slice[slice.length - 1]![0]))]
      out.push({ origin, keys: slice.map(([k]) => k), values: slice.map(([, v]) => v), proof })
      from = end + 1
    }
    return { t, out }
  }

  /** A builder holding the ranges before `at`, each proven chained onto the one before. */
  function provenUpTo(
    root: Uint8Array,
    out: Awaited<ReturnType<typeof ranges>>['out'],
    at: number,
  ): RootBuilder {
    let b: RootBuilder = createRootBuilder()
    for (const r of out.slice(0, at)) {
      const fork = b.fork()
      proveChained(root, r.origin, r.keys, r.values, r.proof, fork)
      b = fork
    }
    return b
  }

  it('proves a whole trie range by range, emitting exactly its nodes, each range only on its fork', async () => {
    await fc.assert(
      fc.asyncProperty(split, async ({ es, cuts }) => {
        const { t, out } = await ranges(es, cuts)
        const emitted = new Map<string, Uint8Array>()
        let b: RootBuilder = createRootBuilder()
        out.forEach((r, i) => {
          const fork = b.fork((h, enc) => emitted.set(toHex(h), enc))
          expect(proveChained(t.root(), r.origin, r.keys, r.values, r.proof, fork)).toEqual({
            hasMore: i < out.length - 1,
          })
          b = fork
        })
        expect(toHex(b.finish())).toBe(toHex(t.root()))
        expect(new Set(emitted.keys())).toEqual(new Set(t.pendingNodes().nodes.map(([h]) => toHex(h))))
      }),
      { numRuns: NUM_RUNS, seed: 19 },
    )
  })

  it('a proof with any one node forged, on either edge, is a ProofError (the peer is charged), never proven', async () => {
    await fc.assert(
      fc.asyncProperty(split, fc.nat(), fc.nat(), async ({ es, cuts }, pick, which) => {
        const { t, out } = await ranges(es, cuts)
        const at = pick % out.length
        const b = provenUpTo(t.root(), out, at)
        const r = out[at]!
        if (r.proof.length === 0) return
        const forged = r.proof.map((p) => p.slice())
        const n = forged[which % forged.length]!
        n[n.length - 1]! ^= 1
        expect(() => proveChained(t.root(), r.origin, r.keys, r.values, forged, b.fork())).toThrow(ProofError)
      }),
      { numRuns: NUM_RUNS, seed: 29 },
    )
  })

  it('does not prove a lying range (its proof alone does not either), nor a true one onto a wrong builder', async () => {
    await fc.assert(
      fc.asyncProperty(split, fc.nat(), async ({ es, cuts }, pick) => {
        const { t, out } = await ranges(es, cuts)
        const at = pick % out.length
        const b = provenUpTo(t.root(), out, at)
        const r = out[at]!
        const lie = (keys: Uint8Array[], values: Uint8Array[], proof = r.proof) => {
          let chained: unknown
          try {
            chained = proveChained(t.root(), r.origin, keys, values, proof, b.fork())
          } catch (e) {
            chained = e
          }
          expect(chained === null || chained instanceof ProofError).toBe(true)
          expect(() => verifyRangeProof(t.root(), r.origin, keys, values, proof)).toThrow(ProofError)
        }
        const n = r.keys.length
        const altered = r.values.map((v) => v.slice())
        altered[n - 1]![0]! ^= 1
        lie(r.keys, altered)
        if (n >= 3) lie([r.keys[0]!, ...r.keys.slice(2)], [r.values[0]!, ...r.values.slice(2)])
        const next = out[at + 1]
        if (next)
          lie(
            r.keys,
            r.values,
            r.proof.map((p) => p.slice(0, -1)),
          ) // edge nodes mangled
        // A true range onto a builder missing a leaf before it: the range alone still proves.
        if (at > 0) {
          const prev = out[at - 1]!
          const wrong = createRootBuilder()
          for (const q of out.slice(0, at - 1))
            for (let j = 0; j < q.keys.length; j++) wrong.add(q.keys[j]!, q.values[j]!)
          for (let j = 0; j < prev.keys.length - 1; j++) wrong.add(prev.keys[j]!, prev.values[j]!)
          expect(proveChained(t.root(), r.origin, r.keys, r.values, r.proof, wrong)).toBeNull()
          expect(verifyRangeProof(t.root(), r.origin, r.keys, r.values, r.proof).hasMore).toBe(!!next)
        }
      }),
      { numRuns: NUM_RUNS, seed: 23 },
    )
  })
})
