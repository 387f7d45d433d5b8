/** EIP-1186 proofs built from a stored state (the serving node's answers, the browser's proof cache). */
import type { AccountProof } from '../account-proof.ts'
import type { NodeStore } from '../store.ts'
import { Trie } from '../trie/trie.ts'
import { StateDB } from './state.ts'

/** An EIP-1186 proof of `address` (and `slots`) in the state `root`. */
export async function accountProof(
  store: NodeStore,
  root: Uint8Array,
  address: Uint8Array,
  slots: Uint8Array[],
): Promise<AccountProof> {
  const state = new StateDB(store, root)
  const accounts = new Trie(store, { secure: true, root })
  const account = await state.getAccount(address)
  const storage = account ? new Trie(store, { secure: true, root: account.storageRoot }) : null
  return {
    address,
    balance: account?.balance ?? 0n,
    nonce: account?.nonce ?? 0n,
    codeHash: account?.codeHash ?? new Uint8Array(32),
    storageHash: account?.storageRoot ?? new Uint8Array(32),
    accountProof: await accounts.prove(address),
    storageProof: await Promise.all(
      slots.map(async (slot) => ({
        key: slot,
        value: await state.getStorage(address, slot),
        proof: storage ? await storage.prove(slot) : [],
      })),
    ),
  }
}
