/**
 * The record of a completed sync: RLP [root, height] under `state/root`, written in the same atomic
 * batch as the root node itself, so its presence means the whole state under that root is stored.
 */
import { META } from '../meta-keys.ts'
import { asBytes, asList, asSafeInt, rlpDecode } from '../rlp.ts'
import type { NodeStore } from '../store.ts'

export const STATE_ROOT_KEY = META.stateRoot

/** The synced state recorded by the last completed sync. */
export async function readSyncedRoot(store: NodeStore): Promise<{ root: Uint8Array; height: number } | null> {
  const b = await store.getMeta(STATE_ROOT_KEY)
  if (!b) return null
  const l = asList(rlpDecode(b), 'state root record', 2)
  return { root: asBytes(l[0], 'root', 32), height: asSafeInt(l[1], 'height') }
}
