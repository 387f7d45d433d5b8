/**
 * What a local read's failure says about the store. A read that meets a missing or corrupt node
 * flags the local state for repair (the record is the driver's: src/core/light/trust.ts
 * `repairRecord`, under META.repair) and is answered by proof instead (verified-reads.ts).
 *
 * Security considerations: the flag only ever makes the client trust less; classification is by
 * error code, never by message.
 */

/** Why the local state needs repair; `hash` names the node, when known. */
export interface RepairFlag {
  reason: 'missing-node' | 'corrupt-node' | 'invalid-local-proof'
  hash: string | null
}

/**
 * The damage a local read's failure shows, or null when the failure says nothing about the store
 * (bad input, a stopped read). The trie reports a node it cannot load as NODE_MISSING (the
 * IndexedDB store returns nothing for bytes that do not hash to their key) and bytes it cannot
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
