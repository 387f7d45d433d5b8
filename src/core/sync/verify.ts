/**
 * Integrity check of a stored state: every node from the root re-hashed against the hash that points
 * to it, decoded, and followed into its children, storage tries and code — the reachability walk of
 * trie/reachable.ts, counting accounts on the way. This is what `rootsync verify` runs and what
 * state recovery uses to decide whether a local snapshot is usable.
 */
import { decodeNode, newNodeScan, SCAN_LEAF, scanNode } from '../trie/node.ts'
import { StateIntegrityError, type WalkOptions, type WalkSource, walkReachable } from '../trie/reachable.ts'

export { StateIntegrityError }

export interface VerifyReport {
  nodes: number
  code: number
  bytes: number
  accounts: number
}

export async function verifyStoredState(
  store: WalkSource,
  root: Uint8Array,
  opts: {
    signal?: AbortSignal
    onProgress?: (r: VerifyReport) => void
    /** Called with every node and code blob once it has verified. */
    onNode?: (hash: Uint8Array) => void
    /** Report damage here and go on instead of throwing (see `walkReachable`). */
    onDamage?: WalkOptions['onDamage']
  } = {},
): Promise<VerifyReport> {
  let accounts = 0
  const scan = newNodeScan()
  // A leaf of the account trie is an account (the walk has already decoded it: this cannot throw).
  const isLeaf = (b: Uint8Array) =>
    scanNode(b, scan) ? scan.kind === SCAN_LEAF : decodeNode(b).kind === 'leaf'
  const t = await walkReachable(store, [root], {
    signal: opts.signal,
    onDamage: opts.onDamage,
    onNode: (hash, bytes, kind) => {
      if (kind === 'state' && isLeaf(bytes)) accounts++
      opts.onNode?.(hash)
    },
    onProgress: (w) => opts.onProgress?.({ ...w, accounts }),
  })
  return { ...t, accounts }
}
