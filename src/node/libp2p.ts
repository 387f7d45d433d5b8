/**
 * libp2p nodes for Node.js: a serving node (WebSockets + WebRTC-direct listeners, circuit-relay-v2
 * server so browsers can reach each other, noise, yamux, identify, ping) with a persistent identity,
 * and a dial-only client node.
 */
import './polyfills.ts'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { webRTCDirect } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { CONNECTION_MONITOR } from '../net/connection-monitor.ts'

/** Loads the node's Ed25519 key from `path`, creating it on first start (stable peer id). */
export async function loadOrCreateKey(path: string): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0/ws', '/ip4/127.0.0.1/udp/0/webrtc-direct']

export async function createServingLibp2p(
  privateKey: PrivateKey,
  listen: string[] = DEFAULT_LISTEN,
): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen },
    transports: [
      webSockets(),
      webRTCDirect({ rtcConfiguration: { iceServers: [] } }),
      circuitRelayTransport(),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR,
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({ reservations: { maxReservations: 128 } }),
    },
  })
}

/** A dial-only node (CLI sync, tests, benchmarks). */
export async function createClientLibp2p(): Promise<Libp2p> {
  return createLibp2p({
    transports: [webSockets(), webRTCDirect({ rtcConfiguration: { iceServers: [] } })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: CONNECTION_MONITOR,
    services: { identify: identify(), ping: ping() },
  })
}
