/**
 * The manager's check of a recovered state before it is marked complete: a full walk (every node
 * re-hashed from the target root) or a sampled one, per `options.finalCheck`.
 * Security considerations: a state that fails is never marked complete; the failure is the attempt's
 * reason (STATE_MISSING / STATE_CORRUPT / STATE_UNDECODABLE), and the next strategy is tried.
 */
import type { NodeStore } from '../store.ts'
import { assertClean, checkState } from './integrity.ts'
import type { RecoveryOptions } from './types.ts'

export async function checkRecovered(
  store: NodeStore,
  root: Uint8Array,
  options: RecoveryOptions,
  signal: AbortSignal,
): Promise<void> {
  assertClean(await checkState(store, root, options.finalCheck, { signal, paths: options.samplePaths }))
}
