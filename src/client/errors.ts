/**
 * The client's typed errors: each request rejects with the one for its kind, carrying the worker's
 * error code (machine-readable; the message is for people).
 */
import type { AttemptReport, ToWorker } from '../api/worker-protocol.ts'

/**
 * Why a read (getAccount, getStorage, getProof, getCode, getBlock, waitSynced) failed:
 * - `INPUT_INVALID`: a malformed argument — an address (0x + 40 hex digits), a slot (0x + 1 to 64
 *   hex digits), more than 64 slots in one proof, a block that is not `latest`, a non-negative
 *   integer height or a 0x block hash (64 hex digits). Fix the call; retrying does not help.
 * - `NOT_STARTED`: `start()` has not been called (or the worker has not started yet).
 * - `STOPPED`: the client was stopped or closed while the read (or `waitSynced`) was pending.
 * - `READ_CANCELLED`: the caller's `AbortSignal` aborted it.
 * - `NO_VERIFIED_HEADER`: no header verified yet within the wait (no reachable peer on the chain,
 *   or header verification still running); retry shortly.
 * - `BLOCK_UNAVAILABLE`: no verified header at that block: above the verified head (not verified
 *   yet), more than 512 blocks below it, no peer served headers that link to it by parent hashes,
 *   or a hash that is neither the head's nor one verified in this session. The message says which.
 * - `STATE_UNAVAILABLE`: the header at that height verified, but no connected peer keeps its state
 *   any more (peers keep a window of recent states) and the local store does not hold it.
 * - `NO_VALID_PROOF`: no connected peer gave a proof that verifies against the verified state root
 *   (peers that sent invalid ones are charged, and banned after repeated bad replies).
 * - `NO_VALID_CODE`: no connected peer sent the code whose keccak256 is the proven code hash.
 * - `EQUIVOCATION_HALT`: unacknowledged equivocation evidence halts reads at this height
 *   (`evidence()`, `acknowledgeEvidence(id)`).
 * - `READ_FAILED`: anything else, with the worker's message.
 * `start()` rejects with `BootstrapError` (code `BAD_BOOTSTRAP`, `field`) for a configuration that
 * does not parse, a bootstrap URL that cannot be fetched, or one that is not JSON.
 */
export type ReadErrorCode =
  | 'INPUT_INVALID'
  | 'NOT_STARTED'
  | 'STOPPED'
  | 'READ_CANCELLED'
  | 'NO_VERIFIED_HEADER'
  | 'BLOCK_UNAVAILABLE'
  | 'STATE_UNAVAILABLE'
  | 'NO_VALID_PROOF'
  | 'NO_VALID_CODE'
  | 'EQUIVOCATION_HALT'
  | 'READ_FAILED'

/** A read failed: `code` is one of `ReadErrorCode` (typed as string: a newer worker may add codes). */
export class ReadError extends Error {
  constructor(
    readonly code: ReadErrorCode | (string & {}),
    message: string,
  ) {
    super(message)
    this.name = 'ReadError'
  }
}

/**
 * "Verify and repair" failed. Code STATE_RECOVERY_FAILED: every strategy failed or did not apply,
 * `attempts` says each one's reason (the stored state is left as it was); NOT_STARTED / STOPPED:
 * the light client is not running; STOPPED also when the client was stopped while it ran.
 */
export class RecoveryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly attempts: AttemptReport[] = [],
  ) {
    super(message)
    this.name = 'RecoveryError'
  }
}

/**
 * A consistency request failed: CONSISTENCY_NOT_READY (no complete verified state to check yet),
 * NOT_STARTED / STOPPED (the light client is not running), EVIDENCE_NOT_FOUND (no such evidence).
 */
export class ConsistencyError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ConsistencyError'
  }
}

const CONSISTENCY_REQUESTS: readonly ToWorker['type'][] = [
  'check-now',
  'consistency-results',
  'evidence',
  'acknowledge-evidence',
]

/** The typed error a request of type `type` rejects with. */
export function errorFor(
  type: ToWorker['type'],
  code: string,
  message: string,
  attempts?: AttemptReport[],
): Error {
  if (type === 'verify-repair') return new RecoveryError(code, message, attempts)
  if (CONSISTENCY_REQUESTS.includes(type)) return new ConsistencyError(code, message)
  return new ReadError(code, message)
}
