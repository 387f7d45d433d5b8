/**
 * Length-prefixed framing for protocol streams (unsigned varint length, then the message), via
 * `lpStream` from @libp2p/utils with one hardening: the stock varint decoder keeps reading a length
 * prefix that never ends (0xff 0xff …) until a timeout fires. Ours refuses a prefix longer than the
 * largest allowed message needs, at once.
 */
import type { MessageStream } from '@libp2p/interface'
import { type LengthPrefixedStream, lpStream } from '@libp2p/utils'

export function framedStream<S extends MessageStream>(
  stream: S,
  maxMessageBytes: number,
): LengthPrefixedStream<S> {
  const maxPrefixBytes = Math.ceil(Math.log2(maxMessageBytes + 1) / 7)
  return lpStream(stream, {
    maxDataLength: maxMessageBytes,
    maxBufferSize: maxMessageBytes + 16,
    lengthDecoder(buf) {
      let value = 0
      for (let i = 0; i < buf.byteLength; i++) {
        if (i >= maxPrefixBytes) throw new Error(`length prefix longer than ${maxPrefixBytes} bytes`)
        const b = buf.get(i)
        value += (b & 0x7f) * 2 ** (7 * i)
        if ((b & 0x80) === 0) return value
      }
      // lpStream treats RangeError as "need more bytes".
      throw new RangeError('incomplete length prefix')
    },
  })
}

/** True for the error lpStream throws when the remote closed its side cleanly between messages. */
export function isCleanEnd(err: unknown, stream: { remoteWriteStatus?: string }): boolean {
  return (err as Error)?.name === 'UnexpectedEOFError' && stream.remoteWriteStatus === 'closed'
}
