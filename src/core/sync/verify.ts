/**
 * Integrity check of a stored state: walk every node from the root, re-hash each against the hash
 * that points to it, decode it, and follow its children, storage tries and code. This is what
 * `rootsync verify` runs and what state recovery uses to decide whether a local snapshot is usable.
 *
 * The walk is depth-first with an explicit stack, so memory stays proportional to the trie's depth,
 * not its size. Storage roots and code hashes shared by several accounts are checked once.
 */
import { accountRefs } from '../account.ts'
import { equals, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { childRefs, decodeNode, type RefKind } from '../trie/node.ts'
import { isEmptyRoot } from '../trie/trie.ts'

export class StateIntegrityError extends RootsyncError {
  constructor(
    readonly hash: string,
    readonly problem: 'missing' | 'corrupt' | 'undecodable',
    detail: string,
  ) {
    super(
      `STATE_${problem.toUpperCase()}`,
      `state node ${hash} is ${problem}${detail ? `: ${detail}` : ''}`,
      { hash, problem },
    )
    this.name = 'StateIntegrityError'
  }
}

export interface VerifyReport {
  nodes: number
  code: number
  bytes: number
  accounts: number
}

export async function verifyStoredState(
  store: NodeStore,
  root: Uint8Array,
  opts: {
    signal?: AbortSignal
    onProgress?: (r: VerifyReport) => void
    /** Called with every node and code blob once it has verified (pruning marks live nodes so). */
    onNode?: (hash: Uint8Array) => void
  } = {},
): Promise<VerifyReport> {
  const report: VerifyReport = { nodes: 0, code: 0, bytes: 0, accounts: 0 }
  if (isEmptyRoot(root)) return report
  const shared = new Set<string>()
  const stack: { hash: Uint8Array; kind: RefKind }[] = [{ hash: root, kind: 'state' }]
  while (stack.length) {
    if (opts.signal?.aborted) throw new RootsyncError('VERIFY_ABORTED', 'verification aborted')
    const { hash, kind } = stack.pop()!
    const bytes = await store.getNode(hash)
    if (!bytes) throw new StateIntegrityError(toHex(hash), 'missing', '')
    if (!equals(keccak256(bytes), hash))
      throw new StateIntegrityError(toHex(hash), 'corrupt', 'stored bytes do not hash to their key')
    report.bytes += bytes.length
    opts.onNode?.(hash)
    if (kind === 'code') {
      report.code++
      continue
    }
    report.nodes++
    let refs: ReturnType<typeof childRefs>
    try {
      const node = decodeNode(bytes)
      if (kind === 'state' && node.kind === 'leaf') report.accounts++
      refs = childRefs(node, kind, accountRefs)
    } catch (e) {
      throw new StateIntegrityError(toHex(hash), 'undecodable', (e as Error).message)
    }
    for (const r of refs) {
      if (r.kind !== kind) {
        // A storage root or code hash: several accounts may share one.
        const k = toHex(r.hash)
        if (shared.has(k)) continue
        shared.add(k)
      }
      stack.push(r)
    }
    if (report.nodes % 10_000 === 0) opts.onProgress?.(report)
  }
  return report
}
