/**
 * The client's typed errors: each request rejects with the one for its kind, carrying the worker's
 * error code (machine-readable; the message is for people).
 */
import type { AttemptReport, ToWorker } from '../api/worker-protocol.ts'

export class ReadError extends Error {
  constructor(
    readonly code: string,
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
