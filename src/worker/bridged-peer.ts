/**
 * A peer whose connection lives on the page: RTCPeerConnection does not exist in dedicated workers
 * (Chromium 156, measured), so the page dials WebRTC and relays protocol requests for the worker
 * over a MessagePort (see src/page/webrtc-bridge.ts). The page only moves bytes; decoding and every
 * check happen here, as for a WebSocket peer, so a compromised or buggy relay can at worst make the
 * peer look faulty, never get an unverified node stored.
 */

import type { BridgeReply, BridgeRequest } from '../api/worker-protocol.ts'
import { timeoutSignal } from '../core/clock.ts'
import type { ProtocolName } from '../core/protocol/messages.ts'
import { PeerRequestError } from '../net/errors.ts'
import { WireClient } from '../net/wire-client.ts'
import { realClock } from '../platform/clock.ts'

export class BridgedPeer extends WireClient {
  private next = 1
  private readonly pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>()
  private closed = false

  constructor(
    readonly id: string,
    private readonly port: MessagePort,
    private readonly timeoutMs = 10_000,
  ) {
    super()
    port.onmessage = (ev: MessageEvent<BridgeReply>) => {
      const m = ev.data
      const p = this.pending.get(m.id)
      if (!p) return
      this.pending.delete(m.id)
      if ('bytes' in m) p.resolve(m.bytes)
      else p.reject(new PeerRequestError(m.reason, `${m.message} (peer ${this.id}, over WebRTC)`))
    }
    port.start()
  }

  async request(name: ProtocolName, bytes: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.closed) throw new PeerRequestError('aborted', 'bridge closed')
    const { signal: s, clear } = timeoutSignal(realClock, signal, this.timeoutMs)
    const id = this.next++
    try {
      return await new Promise<Uint8Array>((resolve, reject) => {
        if (s.aborted) return reject(this.abortError(s))
        this.pending.set(id, { resolve, reject })
        s.addEventListener('abort', () => {
          if (!this.pending.delete(id)) return
          this.port.postMessage({ cancel: id } satisfies BridgeRequest)
          reject(this.abortError(s))
        })
        // Copied, not transferred: callers may still hold the request bytes.
        this.port.postMessage({ id, name, bytes } satisfies BridgeRequest)
      })
    } finally {
      clear()
    }
  }

  private abortError(s: AbortSignal): PeerRequestError {
    const timeout = (s.reason as Error)?.name === 'TimeoutError'
    return new PeerRequestError(
      timeout ? 'timeout' : 'aborted',
      `request to ${this.id} over WebRTC ${timeout ? 'timed out' : 'aborted'}`,
    )
  }

  close(): void {
    this.closed = true
    for (const p of this.pending.values()) p.reject(new PeerRequestError('aborted', 'bridge closed'))
    this.pending.clear()
    this.port.close()
  }
}
