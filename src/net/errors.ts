/** Transport errors of a protocol request, shared by every `WireClient` (no libp2p import here). */
import { type FailureKind, PeerFailure } from '../core/peers/failure.ts'

export type PeerRequestReason = 'timeout' | 'aborted' | 'stream' | 'dial'

const KIND: Record<PeerRequestReason, FailureKind> = {
  timeout: 'timeout',
  aborted: 'aborted',
  stream: 'error',
  dial: 'error',
}

/**
 * The peer did not answer in time, closed the stream, or broke framing. A `PeerFailure`, so the
 * sync's scheduler counts a timeout as a timeout (and shrinks the peer's requests) by type.
 */
export class PeerRequestError extends PeerFailure {
  constructor(
    readonly reason: PeerRequestReason,
    message: string,
  ) {
    super(KIND[reason], `PEER_${reason.toUpperCase()}`, message, { reason })
    this.name = 'PeerRequestError'
  }
}
