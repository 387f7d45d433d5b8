/**
 * Why a request to a peer failed, by type. Every transport (libp2p streams, the WebRTC bridge,
 * in-process fakes) throws a `PeerFailure` — or aborts with the `TimeoutError` DOMException that the
 * clock's `timeoutSignal` uses — so the scheduler can tell a peer that is slow (its requests shrink)
 * from one that is broken (it backs off) without reading error messages.
 *
 * Security considerations: a failure kind is only ever a reason to ask less of a peer or to ask
 * another one; nothing a peer sends can turn a failure into accepted data.
 */
import { RootsyncError } from '../errors.ts'

/**
 * - timeout: no answer in time (the peer is slow or stalled: smaller requests, backoff);
 * - aborted: the request was cancelled on our side (no penalty);
 * - error: the transport failed (closed stream, broken framing, refused dial: backoff).
 */
export type FailureKind = 'timeout' | 'aborted' | 'error'

/** A failed request to a peer; transports extend it (net/errors.ts `PeerRequestError`). */
export class PeerFailure extends RootsyncError {
  constructor(
    readonly kind: FailureKind,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, message, { ...details, kind })
    this.name = 'PeerFailure'
  }
}

/**
 * The kind of a thrown request error, by its type: a `PeerFailure` says so itself; a DOMException
 * is identified by its standard name ('TimeoutError' from `timeoutSignal`, 'AbortError' from a bare
 * `AbortController`); anything else is a transport error.
 */
export function failureKind(e: unknown): FailureKind {
  if (e instanceof PeerFailure) return e.kind
  if (typeof DOMException !== 'undefined' && e instanceof DOMException) {
    if (e.name === 'TimeoutError') return 'timeout'
    if (e.name === 'AbortError') return 'aborted'
  }
  return 'error'
}
