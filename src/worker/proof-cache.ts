/**
 * Proof paths of recently read accounts, kept on this device so that the next visit can show the
 * accounts a wallet cares about before the node index of a large state has loaded (and offline):
 * one small metadata record, read in one IndexedDB get.
 *
 * Security considerations: a cached entry is only ever used after `verifyRequestedProof` checks it
 * against the state root of the current verified header, exactly like a proof from a peer; a stale
 * entry (another root) or a corrupted one is a miss, never an answer.
 */
import type { AccountProof } from '../core/account-proof.ts'
import { padLeft, toHex } from '../core/bytes.ts'
import { decodeProofResponse, encodeProofResponse } from '../core/protocol/messages.ts'
import { asBytes, asList, rlpDecode, rlpEncode } from '../core/rlp.ts'
import type { NodeStore } from '../core/store.ts'

export const PROOF_CACHE_KEY = 'reads/proofs'
/** Entries kept (the record lists them least recently used first). */
const MAX_ENTRIES = 32

interface Entry {
  root: Uint8Array
  proof: AccountProof
  bytes: Uint8Array
}

const keyOf = (address: Uint8Array, slots: Uint8Array[]) =>
  [address, ...slots.map((s) => padLeft(s, 32))].map(toHex).join('/')

export interface ProofCache {
  /** The cached proof for exactly this address and slots under `root`, unverified. */
  get(root: Uint8Array, address: Uint8Array, slots: Uint8Array[]): AccountProof | null
  /** Remembers a verified proof (written in the background; a failed write only loses the cache). */
  put(root: Uint8Array, proof: AccountProof, slots: Uint8Array[]): void
}

export async function loadProofCache(store: Pick<NodeStore, 'getMeta' | 'write'>): Promise<ProofCache> {
  const entries = new Map<string, Entry>()
  try {
    const b = await store.getMeta(PROOF_CACHE_KEY)
    for (const item of b ? asList(rlpDecode(b), 'proof cache') : []) {
      const [root, bytes] = asList(item, 'proof cache entry', 2)
      const proof = decodeProofResponse(asBytes(bytes, 'proof'))
      const e = { root: asBytes(root, 'root', 32), proof, bytes: asBytes(bytes, 'proof') }
      entries.set(
        keyOf(
          proof.address,
          proof.storageProof.map((s) => s.key),
        ),
        e,
      )
    }
  } catch {
    entries.clear() // a corrupted cache is an empty one
  }
  let writing: Promise<void> = Promise.resolve()
  return {
    get(root, address, slots) {
      const e = entries.get(keyOf(address, slots))
      return e && toHex(e.root) === toHex(root) ? e.proof : null
    },
    put(root, proof, slots) {
      const k = keyOf(proof.address, slots)
      // The same answer read again: already the newest entry, nothing to write.
      if ([...entries.keys()].at(-1) === k && toHex(entries.get(k)!.root) === toHex(root)) return
      entries.delete(k)
      entries.set(k, { root, proof, bytes: encodeProofResponse(proof) })
      while (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!)
      const record = rlpEncode([...entries.values()].map((e) => [e.root, e.bytes]))
      writing = writing.then(() => store.write({ meta: [[PROOF_CACHE_KEY, record]] }).catch(() => {}))
    },
  }
}
