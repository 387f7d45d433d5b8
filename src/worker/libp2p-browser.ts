/**
 * libp2p for the browser worker: WebSockets (RTCPeerConnection does not exist in dedicated workers
 * in Chromium 156, so WebRTC stays on the page — issue 5), noise, yamux, identify. The browser's
 * default connection gater refuses plain ws:// and loopback addresses, which a local devnet uses;
 * `allowLocal` lifts that for devnet builds.
 */
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../net/connection-monitor.ts'

// What the worker needs of libp2p, in one lazily loaded chunk.
export { multiaddr } from '@multiformats/multiaddr'
export { PeerClient } from '../net/client.ts'

export function createBrowserLibp2p(allowLocal: boolean): Promise<Libp2p> {
  return createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    // A worker busy verifying headers must not abort its own connections (net/connection-monitor.ts).
    connectionMonitor: CONNECTION_MONITOR,
    ...(allowLocal ? { connectionGater: { denyDialMultiaddr: async () => false } } : {}),
  })
}
