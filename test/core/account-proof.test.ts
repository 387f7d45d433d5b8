import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeAccount, storageKey } from '../../src/core/account.ts'
import {
  parseAccountProofJson,
  verifyAccountProof,
  verifyRequestedProof,
} from '../../src/core/account-proof.ts'
import { numberToBytes, padLeft, toHex } from '../../src/core/bytes.ts'
import { ProofError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { verifyProof } from '../../src/core/trie/proof.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { readVector, VECTORS } from '../helpers/vectors.ts'

const files = readdirSync(join(VECTORS, 'eth_getProof')).filter((f) => f.endsWith('.io'))

function loadResult(file: string): unknown {
  const line = readVector('eth_getProof', file)
    .split('\n')
    .find((l) => l.startsWith('<<'))!
  return JSON.parse(line.slice(2)).result
}

describe('eth_getProof vectors (execution-apis test chain)', () => {
  it('has the four vector files', () => expect(files.length).toBe(4))

  for (const file of files) {
    const proof = parseAccountProofJson(loadResult(file))
    const root = keccak256(proof.accountProof[0]!)

    it(`${file}: account and storage verify against keccak(first node)`, () => {
      const v = verifyAccountProof(root, proof)
      expect(v.account).not.toBeNull()
      expect(v.account!.balance).toBe(0x76n)
      expect(toHex(v.account!.storageRoot)).toBe(
        '0x7917ac1f1d6cd87c54aea239c6efbe5c8865659f0761c74e67f1c1eb837923bb',
      )
      expect(v.storage.map((s) => s.value)).toEqual(proof.storageProof.map((s) => s.value))
    })

    it(`${file}: every flipped byte in every proof node fails with a typed error`, () => {
      const lists = [proof.accountProof, ...proof.storageProof.map((s) => s.proof)]
      let flips = 0
      for (const list of lists) {
        for (let n = 0; n < list.length; n++) {
          const original = list[n]!
          for (let i = 0; i < original.length; i++) {
            const bad = original.slice()
            bad[i]! ^= 0x01 << (i % 8)
            list[n] = bad
            expect(() => verifyAccountProof(root, proof)).toThrow(ProofError)
            flips++
          }
          list[n] = original
        }
      }
      expect(flips).toBeGreaterThan(500)
      // Restored: it verifies again (the flips did not leak).
      expect(verifyAccountProof(root, proof).account).not.toBeNull()
    })

    it(`${file}: a valid proof of another account or slot than asked is a wrong answer`, () => {
      const slots = proof.storageProof.map((s) => s.key)
      expect(verifyRequestedProof(root, proof.address, slots, proof).account).not.toBeNull()
      const other = proof.address.slice()
      other[0]! ^= 1
      expect(() => verifyRequestedProof(root, other, slots, proof)).toThrow(/PROOF_WRONG_ANSWER|asked for 0x/)
      if (slots.length) {
        const otherSlot = padLeft(slots[0]!, 32).slice()
        otherSlot[31]! ^= 1
        expect(() =>
          verifyRequestedProof(root, proof.address, [otherSlot, ...slots.slice(1)], proof),
        ).toThrow(ProofError)
      }
      expect(() => verifyRequestedProof(root, proof.address, [...slots, new Uint8Array(32)], proof)).toThrow(
        /slots/,
      )
    })

    it(`${file}: a claimed balance that differs from the proof is rejected`, () => {
      expect(() => verifyAccountProof(root, { ...proof, balance: proof.balance + 1n })).toThrow(/balance/)
    })
  }

  it('proves an absent storage key with the vector nodes, and rejects a claimed value for it', () => {
    const proof = parseAccountProofJson(loadResult('get-account-proof-with-storage.io'))
    const root = keccak256(proof.accountProof[0]!)
    const nodes = proof.storageProof[0]!.proof
    // Find a slot whose path leaves the trie inside the nodes of slot 0's proof.
    let absent = -1
    for (let slot = 1; slot < 5000 && absent < 0; slot++) {
      try {
        if (verifyProof(proof.storageHash, storageKey(padLeft(numberToBytes(slot), 32)), nodes) === null)
          absent = slot
      } catch {
        // this slot's path needs a node the proof does not have
      }
    }
    expect(absent).toBeGreaterThan(0)
    const key = numberToBytes(absent)
    const v = verifyAccountProof(root, { ...proof, storageProof: [{ key, value: 0n, proof: nodes }] })
    expect(v.storage[0]!.value).toBe(0n)
    expect(() =>
      verifyAccountProof(root, { ...proof, storageProof: [{ key, value: 5n, proof: nodes }] }),
    ).toThrow(expect.objectContaining({ code: 'PROOF_STORAGE_MISMATCH' }))
  })

  it('rejects malformed JSON input with typed errors', () => {
    expect(() => parseAccountProofJson(null)).toThrow(ProofError)
    expect(() => parseAccountProofJson({ address: '0x12' })).toThrow(ProofError)
    const ok = loadResult('get-account-proof-latest.io') as Record<string, unknown>
    expect(() => parseAccountProofJson({ ...ok, accountProof: ['0xzz'] })).toThrow(ProofError)
    expect(() => parseAccountProofJson({ ...ok, balance: 12 })).toThrow(ProofError)
  })
})

describe('proofs from our own trie', () => {
  it('proves presence and absence of accounts, and an absent account must claim nothing', async () => {
    const trie = new Trie(new MemoryNodeStore(), { secure: true })
    const addrs = Array.from({ length: 300 }, (_, i) => keccak256(numberToBytes(i + 1)).slice(0, 20))
    for (const [i, a] of addrs.entries()) {
      await trie.put(
        a,
        encodeAccount({
          nonce: BigInt(i),
          balance: 10n ** 18n + BigInt(i),
          storageRoot: keccak256(Uint8Array.of(0x80)),
          codeHash: keccak256(new Uint8Array()),
        }),
      )
    }
    const root = trie.root()
    for (const a of addrs.slice(0, 50)) {
      const leaf = verifyProof(root, keccak256(a), await trie.prove(a))
      expect(leaf).not.toBeNull()
    }
    const missing = new Uint8Array(20).fill(7)
    const p = await trie.prove(missing)
    expect(verifyProof(root, keccak256(missing), p)).toBeNull()
    const base = {
      address: missing,
      nonce: 0n,
      codeHash: keccak256(new Uint8Array()),
      storageHash: keccak256(Uint8Array.of(0x80)),
      accountProof: p,
      storageProof: [],
    }
    expect(verifyAccountProof(root, { ...base, balance: 0n }).account).toBeNull()
    expect(() => verifyAccountProof(root, { ...base, balance: 1n })).toThrow(
      expect.objectContaining({ code: 'PROOF_ACCOUNT_MISMATCH' }),
    )
    // A proof for another root fails.
    const other = await trie.prove(addrs[0]!)
    expect(() => verifyProof(new Uint8Array(32).fill(1), keccak256(addrs[0]!), other)).toThrow(ProofError)
  })
})
