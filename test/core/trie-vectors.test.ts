import { describe, expect, it } from 'vitest'
import { fromHex, toHex, utf8 } from '../../src/core/bytes.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { readVector } from '../helpers/vectors.ts'

type In = [string, string | null][] | Record<string, string | null>
interface Case {
  in: In
  root: string
}

const decode = (s: string, hex: boolean): Uint8Array => (hex || s.startsWith('0x') ? fromHex(s) : utf8(s))

async function rootOf(c: Case, secure: boolean, hex: boolean): Promise<string> {
  const trie = new Trie(new MemoryNodeStore(), { secure })
  const pairs = Array.isArray(c.in) ? c.in : Object.entries(c.in)
  for (const [k, v] of pairs) {
    if (v === null) await trie.del(decode(k, hex))
    else await trie.put(decode(k, hex), decode(v, hex))
  }
  return toHex(trie.root())
}

const suites: [file: string, secure: boolean, hex: boolean][] = [
  ['trietest.json', false, false],
  ['trietest_secureTrie.json', true, false],
  ['trieanyorder.json', false, false],
  ['trieanyorder_secureTrie.json', true, false],
  ['hex_encoded_securetrie_test.json', true, true],
]

for (const [file, secure, hex] of suites) {
  describe(`ethereum/tests ${file}`, () => {
    const cases = JSON.parse(readVector('ethereum-tests', file)) as Record<string, Case>
    for (const [name, c] of Object.entries(cases)) {
      it(name, async () => {
        expect(await rootOf(c, secure, hex)).toBe(c.root)
      })
    }
  })
}

describe('ethereum/tests trieanyorder.json in every insertion order tried', () => {
  const cases = JSON.parse(readVector('ethereum-tests', 'trieanyorder.json')) as Record<string, Case>
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: reversed and rotated orders give the same root`, async () => {
      const pairs = Object.entries(c.in as Record<string, string>)
      for (let rot = 0; rot < pairs.length; rot++) {
        const order = [...pairs.slice(rot), ...pairs.slice(0, rot)]
        for (const seq of [order, [...order].reverse()]) {
          expect(await rootOf({ in: seq, root: c.root }, false, false)).toBe(c.root)
        }
      }
    })
  }
})

describe('ethereum/tests trietestnextprev.json', () => {
  const cases = JSON.parse(readVector('ethereum-tests', 'trietestnextprev.json')) as Record<
    string,
    { in: string[]; tests: [string, string, string][] }
  >
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      const trie = new Trie(new MemoryNodeStore())
      for (const k of c.in) await trie.put(utf8(k), utf8(k))
      const keys: string[] = []
      for await (const [k] of trie.entries()) keys.push(new TextDecoder().decode(k))
      expect(keys).toEqual([...c.in].sort())
      for (const [key, prev, next] of c.tests) {
        // next: the first key strictly after `key`, found by iterating from it.
        let found = ''
        for await (const [k] of trie.entries(utf8(key))) {
          const ks = new TextDecoder().decode(k)
          if (ks !== key) {
            found = ks
            break
          }
        }
        expect(found, `next(${key})`).toBe(next)
        expect(keys.filter((k) => k < key).at(-1) ?? '', `prev(${key})`).toBe(prev)
      }
    })
  }
})
