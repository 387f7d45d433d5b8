/**
 * The one reachability walk (core/trie/reachable.ts): what it visits and how it fails, on small
 * states in memory.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { keccak256 } from '../../src/core/hash.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { TaskStoppedError } from '../../src/core/task.ts'
import { StateIntegrityError, walkReachable } from '../../src/core/trie/reachable.ts'
import { twoStates } from './conformance.ts'

async function storeOf(entries: readonly (readonly [Uint8Array, Uint8Array])[]) {
  const s = new MemoryNodeStore()
  await s.write({ nodes: entries })
  return s
}

describe('reachability walk', () => {
  it('visits every node and code blob of the live roots, each verified, shared subtrees once per caller mark', async () => {
    const t = await twoStates()
    const s = await storeOf(t.all)
    const kinds = new Map<string, string>()
    const marked = new Set<string>()
    const totals = await walkReachable(s, [t.rootA, t.rootB], {
      visited: (h) => marked.has(toHex(h)),
      onNode: (h, bytes, kind) => {
        expect(toHex(keccak256(bytes))).toBe(toHex(h))
        marked.add(toHex(h))
        kinds.set(toHex(h), kind)
      },
    })
    expect(marked).toEqual(new Set([...t.liveA, ...t.liveB]))
    expect(totals.nodes + totals.code).toBe(marked.size)
    expect(new Set(kinds.values())).toEqual(new Set(['state', 'storage', 'code']))
  })

  it('names the hash of a missing, a corrupt and an undecodable node with its code', async () => {
    const t = await twoStates()
    const victim = t.all.find(([h]) => t.liveA.has(toHex(h)) && toHex(h) !== toHex(t.rootA))!
    const missing = await storeOf(t.all.filter((e) => e !== victim))
    await expect(walkReachable(missing, [t.rootA])).rejects.toMatchObject({
      code: 'STATE_MISSING',
      hash: toHex(victim[0]),
    })
    const corrupt = await storeOf(t.all)
    const bad = victim[1].slice()
    bad[bad.length - 1]! ^= 1
    await corrupt.write({ nodes: [[victim[0], bad]] })
    await expect(walkReachable(corrupt, [t.rootA])).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
      hash: toHex(victim[0]),
    })
    // Bytes that hash to their key but are no trie node.
    const junk = new TextEncoder().encode('not a trie node at all, but hashed honestly')
    const undecodable = await storeOf([[keccak256(junk), junk]])
    const e = await walkReachable(undecodable, [keccak256(junk)]).catch((x) => x)
    expect(e).toBeInstanceOf(StateIntegrityError)
    expect(e).toMatchObject({ code: 'STATE_UNDECODABLE', hash: toHex(keccak256(junk)) })
  })

  it('stops when its signal aborts', async () => {
    const t = await twoStates()
    const s = await storeOf(t.all)
    const ac = new AbortController()
    let seen = 0
    const walk = walkReachable(s, [t.rootA], {
      signal: ac.signal,
      onNode: () => {
        if (++seen === 10) ac.abort(new TaskStoppedError('verify', 'test'))
      },
    })
    await expect(walk).rejects.toBeInstanceOf(TaskStoppedError)
    expect(seen).toBeLessThan(t.liveA.size)
  })
})
