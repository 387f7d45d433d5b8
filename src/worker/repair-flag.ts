/**
 * The "needs repair" flag: the local state met a missing or corrupt node (a read found it), so it is
 * no longer trusted to be complete. It is persisted under `META.repair` as RLP [reason, hash] (hash
 * empty when unknown), written in its own atomic batch, and survives reloads until the state is
 * repaired or cleared; while it is set, reads are answered by proof from peers, never from the
 * local state (which could no longer prove absence, or could fail mid-path).
 *
 * Security considerations: the flag only ever makes the client trust less. A tampered or
 * undecodable record still counts as set (reason `unreadable-flag`): a damaged disk must not be able
 * to turn the flag off.
 */
import { fromHex, toHex } from '../core/bytes.ts'
import { META } from '../core/meta-keys.ts'
import { asBytes, asList, rlpDecode, rlpEncode } from '../core/rlp.ts'
import type { NodeStore } from '../core/store.ts'

/** Why the local state needs repair; `hash` names the node, when known. */
export interface RepairFlag {
  reason: 'missing-node' | 'corrupt-node' | 'invalid-local-proof' | 'unreadable-flag'
  hash: string | null
}

const utf8 = new TextEncoder()
const REASONS: RepairFlag['reason'][] = ['missing-node', 'corrupt-node', 'invalid-local-proof']

export function encodeRepairFlag(f: RepairFlag): Uint8Array {
  return rlpEncode([utf8.encode(f.reason), f.hash ? fromHex(f.hash) : new Uint8Array(0)])
}

export function decodeRepairFlag(b: Uint8Array): RepairFlag {
  try {
    const [r, h] = asList(rlpDecode(b), 'repair flag', 2)
    const reason = new TextDecoder().decode(asBytes(r, 'reason', 64)) as RepairFlag['reason']
    const hash = asBytes(h, 'hash', 32)
    if (!REASONS.includes(reason)) throw new Error(`unknown reason ${reason}`)
    return { reason, hash: hash.length ? toHex(hash) : null }
  } catch {
    return { reason: 'unreadable-flag', hash: null }
  }
}

export async function readRepairFlag(store: Pick<NodeStore, 'getMeta'>): Promise<RepairFlag | null> {
  const b = await store.getMeta(META.repair)
  return b ? decodeRepairFlag(b) : null
}

export function writeRepairFlag(store: Pick<NodeStore, 'write'>, f: RepairFlag): Promise<void> {
  return store.write({ meta: [[META.repair, encodeRepairFlag(f)]] })
}

/**
 * The damage a local read's failure shows, or null when the failure says nothing about the store
 * (bad input, a stopped read). By error code: the trie reports a node it cannot load as NODE_MISSING
 * (the IndexedDB store returns nothing for bytes that do not hash to their key) and bytes it cannot
 * decode as NODE_INVALID / RLP_INVALID; a proof built from the local state that does not verify
 * (PROOF_*) means the state is not what its root says.
 */
export function damageOf(e: unknown): RepairFlag | null {
  const code = (e as { code?: unknown }).code
  if (typeof code !== 'string') return null
  const details = (e as { details?: { hash?: unknown } }).details
  const hash = typeof details?.hash === 'string' ? details.hash : null
  if (code === 'NODE_MISSING') return { reason: 'missing-node', hash }
  if (code === 'NODE_INVALID' || code === 'RLP_INVALID') return { reason: 'corrupt-node', hash }
  if (code.startsWith('PROOF_')) return { reason: 'invalid-local-proof', hash }
  return null
}
