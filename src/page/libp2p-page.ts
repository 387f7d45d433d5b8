/**
 * libp2p for the page (main thread), which owns the WebRTC connections because RTCPeerConnection
 * does not exist in dedicated workers (Chromium 156, measured). Dial-only, one transport:
 * WebRTC-direct to serving nodes, whose multiaddrs carry the certificate hash so no signalling
 * server is needed. @libp2p/webrtc runs the Noise handshake over its first data channel itself and
 * multiplexes streams as data channels, so the node needs no connection encrypter or stream muxer
 * of its own (libp2p's upgrader skips both for this transport). DTLS, SCTP and congestion control
 * are the browser's, in native code: the page's JavaScript only moves bytes.
 *
 * `iceServers: []` keeps the page from contacting a public STUN server. The browser's default
 * connection gater refuses loopback and private addresses, which a local devnet uses; `allowLocal`
 * lifts that for devnet builds, as src/worker/libp2p-browser.ts does for WebSockets.
 *
 * This module is loaded lazily (src/page/webrtc-bridge.ts imports it dynamically), so it also
 * re-exports what the bridge needs from libp2p-heavy modules: they land in the same lazy chunk.
 */
import type { Libp2p } from '@libp2p/interface'
import { webRTCDirect } from '@libp2p/webrtc'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../net/connection-monitor.ts'

export { multiaddr } from '@multiformats/multiaddr'
export { encodeError, PROTOCOLS, ProtocolError } from '../core/protocol/messages.ts'
export { PeerClient, PeerRequestError } from '../net/client.ts'

export function createPageLibp2p(allowLocal: boolean): Promise<Libp2p> {
  return createLibp2p({
    transports: [webRTCDirect({ rtcConfiguration: { iceServers: [] } })],
    // The liveness tolerance every rootsync libp2p node uses (net/connection-monitor.ts).
    connectionMonitor: CONNECTION_MONITOR,
    ...(allowLocal ? { connectionGater: { denyDialMultiaddr: async () => false } } : {}),
  })
}
