/**
 * What consistency checks keep in the store (src/core/consistency/records.ts): the newest 20 results
 * survive a reload, newest first; stored JSON that is corrupt or of the wrong shape is dropped
 * without throwing; evidence is kept once per id, acknowledging it lifts the halt, and evidence
 * that was tampered with does not re-verify, nor does evidence kept without its validator set.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { ChainError } from '../../src/core/chain/errors.ts'
import { encodeSignedHeader, headerHash } from '../../src/core/chain/header.ts'
import {
  acknowledgeEvidence,
  evidenceMeta,
  haltedFrom,
  readEvidence,
  readResults,
  saveResult,
  verifyEvidence,
} from '../../src/core/consistency/records.ts'
import { ConsistencyError, evidenceOf } from '../../src/core/consistency/roots.ts'
import {
  type ConsistencyResult,
  type EquivocationEvidence,
  RESULTS_KEPT,
} from '../../src/core/consistency/types.ts'
import { RootsyncError } from '../../src/core/errors.ts'
import { META } from '../../src/core/meta-keys.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { checkpoint, headerAt, signBy, trusted } from '../helpers/forked-headers.ts'

const hash = (b: number) => toHex(new Uint8Array(32).fill(b))

/** A result of check `i` with one discrepancy of every kind, a peer, a repair and a recovery. */
function result(i: number): ConsistencyResult {
  const path = { account: hash(1), slot: hash(2) }
  return {
    checkedAt: 1_700_000_000_000 + i,
    height: 100 + i,
    root: hash(i),
    stateRootMatches: i % 2 === 0,
    accountMatches: 30,
    sampled: 34,
    discrepancies: [
      {
        kind: 'StateRootMismatch',
        height: 100 + i,
        localRoot: null,
        headerRoot: hash(3),
        action: 'recovery',
        detail: 'x',
      },
      {
        kind: 'AccountMismatch',
        path,
        local: '0x01',
        proven: '0x02',
        peer: 'p1',
        action: 'repaired',
        detail: 'y',
      },
      {
        kind: 'InvalidPeerData',
        peer: 'p2',
        what: 'proof',
        path,
        code: 'PROOF_BAD',
        action: 'charged',
        detail: 'z',
      },
      { kind: 'Equivocation', height: 100 + i, peer: 'p3', evidence: hash(4), action: 'halted', detail: 'w' },
      {
        kind: 'LocalDamage',
        path: { account: hash(5) },
        problem: 'missing',
        hash: hash(6),
        action: 'reported',
        detail: 'v',
      },
    ],
    peers: [
      { peer: 'p1', root: 'match', proofsValid: 3, proofsInvalid: 0, proofsUnavailable: 1, charged: null },
      {
        peer: 'p2',
        root: 'invalid',
        proofsValid: 0,
        proofsInvalid: 2,
        proofsUnavailable: 0,
        charged: 'root: no',
      },
    ],
    repaired: [`${hash(1)}/${hash(2)}`],
    recovery: {
      at: 5,
      why: 'consistency',
      target: { height: 100 + i, root: hash(i), hash: hash(7) },
      strategy: 'local',
      attempts: [
        { strategy: 'local', outcome: 'recovered', reason: null, ms: 3, bytes: 0, nodes: 9, blocks: 0 },
      ],
    },
    summary: `check ${i}`,
    ms: 12,
  }
}

/** A fresh store holding what `store` persisted (a reload). */
async function reload(store: MemoryNodeStore): Promise<MemoryNodeStore> {
  const again = new MemoryNodeStore()
  await again.write({ meta: [...store.meta].map(([k, v]) => [k, v.slice()] as const) })
  return again
}

const bytes = (s: string) => new TextEncoder().encode(s)

/** Evidence of a real equivocation at `height`: two headers, each with a quorum, 3 double signers. */
function evidence(height: number, variant = 1): EquivocationEvidence {
  const local = signBy(headerAt(height), [0, 1, 2, 3, 4])
  return evidenceOf(
    checkpoint,
    trusted(local),
    signBy(headerAt(height, variant), [2, 3, 4, 5, 6]),
    'forked',
    9,
  )
}

describe('consistency results in the store', () => {
  it(`keeps the newest ${RESULTS_KEPT} of 25 results, newest first, across a reload`, async () => {
    const store = new MemoryNodeStore()
    for (let i = 0; i < 25; i++) await saveResult(store, result(i))
    const got = await readResults(await reload(store))
    expect(got).toHaveLength(RESULTS_KEPT)
    expect(got.map((r) => r.summary)).toEqual(Array.from({ length: 20 }, (_, k) => `check ${24 - k}`))
    expect(got[0]).toEqual(result(24))
  })

  it('writes a result and the records the caller adds in one atomic write', async () => {
    const store = new MemoryNodeStore()
    const e = evidence(30)
    const before = store.writes
    await saveResult(store, result(1), [evidenceMeta([], [e])])
    expect(store.writes).toBe(before + 1)
    expect(await readResults(store)).toEqual([result(1)])
    expect(await readEvidence(store)).toEqual([e])
  })

  it('corrupt or wrongly shaped stored results read as nothing (or only the entries that match), without throwing', async () => {
    const store = new MemoryNodeStore()
    const good = result(3)
    const cases: [Uint8Array, ConsistencyResult[]][] = [
      [bytes('{"not json'), []],
      [Uint8Array.of(0xff, 0xfe, 0x5b, 0x5d), []],
      [bytes(JSON.stringify({ ...good })), []],
      [bytes('null'), []],
      [bytes(JSON.stringify([good, { ...good, height: '12' }, null, 7])), [good]],
      [
        bytes(
          JSON.stringify([
            { ...good, root: 'not hex' },
            { ...good, peers: [{ peer: 'p', root: 'maybe' }] },
          ]),
        ),
        [],
      ],
      [
        bytes(
          JSON.stringify([{ ...good, discrepancies: [{ kind: 'Haunted', action: 'halted', detail: '' }] }]),
        ),
        [],
      ],
      [
        bytes(JSON.stringify([{ ...good, discrepancies: [{ ...good.discrepancies[4], problem: 'gone' }] }])),
        [],
      ],
      [
        bytes(
          JSON.stringify([{ ...good, recovery: { ...good.recovery, attempts: [{ strategy: 'magic' }] } }]),
        ),
        [],
      ],
    ]
    for (const [stored, expected] of cases) {
      await store.write({ meta: [[META.consistency, stored]] })
      await expect(readResults(store)).resolves.toEqual(expected)
    }
    // A new result after a corrupt record starts the list afresh.
    await store.write({ meta: [[META.consistency, bytes('[[[')]] })
    await saveResult(store, good)
    expect(await readResults(store)).toEqual([good])
  })
})

describe('equivocation evidence in the store', () => {
  it('is kept once per id, survives a reload, halts from its lowest unacknowledged height until acknowledged', async () => {
    const store = new MemoryNodeStore()
    const [a, b] = [evidence(40), evidence(35)]
    await store.write({ meta: [evidenceMeta([], [a, b, a])] })
    const stored = await readEvidence(await reload(store))
    expect(stored).toEqual([a, b])
    expect(haltedFrom(stored)).toBe(35)

    const acked = await acknowledgeEvidence(store, b.id, 1234)
    expect(acked).toEqual({ ...b, acknowledgedAt: 1234 })
    expect(haltedFrom(await readEvidence(store))).toBe(40)
    await acknowledgeEvidence(store, a.id, 1300)
    const after = await readEvidence(await reload(store))
    expect(haltedFrom(after)).toBeNull()
    // Seeing the same equivocation again keeps the acknowledgement.
    await store.write({ meta: [evidenceMeta(after, [a])] })
    expect(haltedFrom(await readEvidence(store))).toBeNull()
    expect(haltedFrom([])).toBeNull()
  })

  it('acknowledging an unknown id is a typed error', async () => {
    const store = new MemoryNodeStore()
    await store.write({ meta: [evidenceMeta([], [evidence(40)])] })
    const err = await acknowledgeEvidence(store, hash(9), 1).catch((e) => e)
    expect(err).toBeInstanceOf(ConsistencyError)
    expect(err.code).toBe('EVIDENCE_NOT_FOUND')
  })

  it('corrupt stored evidence reads as nothing; entries of the wrong shape are dropped', async () => {
    const store = new MemoryNodeStore()
    const e = evidence(40)
    for (const [stored, expected] of [
      [bytes('[{'), []],
      [
        bytes(
          JSON.stringify([
            e,
            { ...e, id: 'x' },
            { ...e, local: null },
            { ...e, doubleSigners: [{ index: -1 }] },
            { ...e, id: hash(3), validators: ['0x12'] },
          ]),
        ),
        [e],
      ],
    ] as const) {
      await store.write({ meta: [[META.evidence, stored]] })
      await expect(readEvidence(store)).resolves.toEqual(expected)
    }
  })

  it('evidence kept without its validator set (the format before rotation) is read back but refused: STORE_FORMAT', async () => {
    const store = new MemoryNodeStore()
    const { validators: _, ...old } = evidence(40)
    await store.write({ meta: [[META.evidence, bytes(JSON.stringify([old]))]] })
    const [read] = await readEvidence(store)
    expect(read).toEqual(old)
    const err = (() => {
      try {
        verifyEvidence(checkpoint, read!)
      } catch (x) {
        return x
      }
    })()
    expect(err).toBeInstanceOf(ConsistencyError)
    expect((err as RootsyncError).code).toBe('STORE_FORMAT')
  })

  it('re-verifies: genuine evidence passes, tampered evidence is refused with a typed error', () => {
    const e = evidence(40)
    expect(() => verifyEvidence(checkpoint, e)).not.toThrow()
    const tooFew = signBy(headerAt(40, 1), [2, 3, 4, 5])
    const forged = signBy(headerAt(40, 1), [2, 3, 4, 5, 6], true)
    const sameAsLocal = { ...e, conflicting: e.local }
    const cases: [EquivocationEvidence, string][] = [
      [{ ...e, conflicting: { ...e.conflicting, signed: toHex(encodeSignedHeader(tooFew)) } }, 'NO_QUORUM'],
      [
        { ...e, conflicting: { ...e.conflicting, signed: toHex(encodeSignedHeader(forged)) } },
        'BAD_HEADER_SIGNATURE',
      ],
      [{ ...e, doubleSigners: e.doubleSigners.slice(1) }, 'EVIDENCE_INVALID'],
      [{ ...e, height: 41 }, 'EVIDENCE_INVALID'],
      [{ ...e, chainId: e.chainId + 1 }, 'EVIDENCE_INVALID'],
      [{ ...e, id: hash(1) }, 'EVIDENCE_INVALID'],
      [sameAsLocal, 'EVIDENCE_INVALID'],
      [{ ...e, local: { ...e.local, hash: hash(2) } }, 'EVIDENCE_INVALID'],
      [{ ...e, local: { ...e.local, signed: '0xc3c2c1' } }, 'RLP_INVALID'],
      [{ ...e, validators: [...e.validators!].reverse() }, 'EVIDENCE_INVALID'],
      [{ ...e, validators: [e.validators![0]!, ...e.validators!] }, 'BAD_VALIDATOR_SET'],
    ]
    for (const [tampered, code] of cases) {
      const err = (() => {
        try {
          verifyEvidence(checkpoint, tampered)
        } catch (x) {
          return x
        }
      })()
      const type = code.startsWith('EVIDENCE')
        ? ConsistencyError
        : code === 'RLP_INVALID'
          ? RootsyncError
          : ChainError
      expect(err).toBeInstanceOf(type)
      expect((err as RootsyncError).code).toBe(code)
    }
    // A header at another height with the other's quorum is not a conflict at this height.
    const elsewhere = signBy(headerAt(41), [0, 1, 2, 3, 4])
    expect(() =>
      verifyEvidence(checkpoint, {
        ...e,
        local: { hash: toHex(headerHash(elsewhere.header)), signed: toHex(encodeSignedHeader(elsewhere)) },
      }),
    ).toThrow(ConsistencyError)
  })
})
