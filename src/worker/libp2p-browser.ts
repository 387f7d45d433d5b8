/**
 * libp2p for the browser worker: WebSockets (RTCPeerConnection does not exist in dedicated workers
 * in Chromium 156, so WebRTC stays on the page — issue 5), noise, yamux, identify. The browser's
 * default connection gater refuses plain ws:// and loopback addresses, which a local devnet uses;
 * `allowLocal` lifts that for devnet builds.
 *
 * Noise's ChaCha20-Poly1305 runs in WebAssembly where the page allows it (net/noise-crypto.ts): in a
 * dedicated worker of Chromium 156, 1.2× faster than noise's JS on its largest (65,519 B) frames and
 * 1.4–5.5× on smaller ones (`npm run bench:noise`). A CSP without 'wasm-unsafe-eval' keeps the JS.
 */
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../net/connection-monitor.ts'
import { browserNoiseCrypto } from '../net/noise-crypto.ts'

// What the worker needs of libp2p, in one lazily loaded chunk.
export { multiaddr } from '@multiformats/multiaddr'
export { PeerClient } from '../net/client.ts'

// Started when this chunk loads (the WASM is a chunk of its own, imported in a try), so it is ready
// by the time the page's configuration arrives and the worker dials. The choice is a performance mark
// of the worker (DevTools shows it), and a fallback says why: it is slower, so it should not go unseen.
const noiseCrypto = browserNoiseCrypto().then((chosen) => {
  performance.mark('rootsync:noise-crypto', { detail: chosen.name })
  if (chosen.fallbackReason !== undefined)
    console.warn(`noise: JavaScript ChaCha20-Poly1305 (WebAssembly unavailable: ${chosen.fallbackReason})`)
  return chosen
})

export async function createBrowserLibp2p(allowLocal: boolean): Promise<Libp2p> {
  const { crypto } = await noiseCrypto
  return createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise({ crypto })],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    // A worker busy verifying headers must not abort its own connections (net/connection-monitor.ts).
    connectionMonitor: CONNECTION_MONITOR,
    ...(allowLocal ? { connectionGater: { denyDialMultiaddr: async () => false } } : {}),
  })
}
