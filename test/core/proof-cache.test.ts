import { describe, expect, it } from 'vitest'
import { verifyRequestedProof } from '../../src/core/account-proof.ts'
import { toHex } from '../../src/core/bytes.ts'
import { generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { accountProof } from '../../src/core/chain/state-proof.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { loadProofCache, PROOF_CACHE_KEY } from '../../src/worker/proof-cache.ts'

async function setup() {
  const { genesis } = generateDevnet({ seed: 'cache', accounts: 200, contracts: 3, slots: 3 })
  const store = new MemoryNodeStore()
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  await store.write({ nodes })
  return { genesis, store, root }
}

const settle = () => new Promise((r) => setTimeout(r, 10))

describe('proof cache', () => {
  it('keeps proofs across a reload, keyed by address, slots and root; stale roots and damage are misses', async () => {
    const { genesis, store, root } = await setup()
    const [address, acc] = genesis.alloc.find(([, a]) => a.storage.length)!
    const slot = acc.storage[0]![0]
    const cache = await loadProofCache(store)
    cache.put(root, await accountProof(store, root, address, []), [])
    cache.put(root, await accountProof(store, root, address, [slot]), [slot])
    await settle()

    const again = await loadProofCache(store)
    const p = again.get(root, address, [])!
    expect(verifyRequestedProof(root, address, [], p).account?.balance).toBe(acc.balance)
    const ps = again.get(root, address, [slot])!
    expect(verifyRequestedProof(root, address, [slot], ps).storage[0]!.value).toBe(acc.storage[0]![1])
    expect(again.get(new Uint8Array(32).fill(1), address, [])).toBeNull() // another root
    expect(again.get(root, genesis.alloc[0]![0], [])).toBeNull() // never read

    await store.write({ meta: [[PROOF_CACHE_KEY, new Uint8Array([0xc5, 1, 2])]] })
    expect((await loadProofCache(store)).get(root, address, [])).toBeNull()
  })

  it('holds at most 32 entries, dropping the least recently used', async () => {
    const { genesis, store, root } = await setup()
    const cache = await loadProofCache(store)
    const addrs = genesis.alloc.slice(0, 40).map(([a]) => a)
    for (const a of addrs) cache.put(root, await accountProof(store, root, a, []), [])
    await settle()
    const again = await loadProofCache(store)
    const kept = addrs.filter((a) => again.get(root, a, []))
    expect(kept.map(toHex)).toEqual(addrs.slice(8).map(toHex))
  })
})
