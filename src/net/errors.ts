/** Transport errors of a protocol request, shared by every `WireClient` (no libp2p import here). */
import { RootsyncError } from '../core/errors.ts'

/** The peer did not answer in time, closed the stream, or broke framing. */
export class PeerRequestError extends RootsyncError {
  constructor(
    readonly reason: 'timeout' | 'aborted' | 'stream' | 'dial',
    message: string,
  ) {
    super(`PEER_${reason.toUpperCase()}`, message, { reason })
    this.name = 'PeerRequestError'
  }
}
