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

/**
 * libp2p's connection monitor pings every connection every 10 s and aborts it when a ping takes
 * longer than an adaptive timeout that is at least 5 s by default. A light client verifying a chunk of
 * 512 signed headers keeps its event loop busy for seconds (3.3–6.3 s measured on a loaded 2-core
 * machine): it cannot answer a ping meanwhile, so the serving node aborted live clients mid-sync
 * (`rootsync recover`: "The connection muxer is "closed" and not "open"", both peers at once), and a
 * client's own monitor can abort its connection the same way (after a long task, timers run before
 * I/O, so the ping's timeout fires before its reply is read). So a ping may take 20 s. The interval
 * stays above that timeout: a heartbeat starting while the last one still waits opens a second ping
 * stream, which the ping protocol refuses (one outbound stream per peer) — and that too aborts the
 * connection. A peer that is really gone without closing its connection (network lost) is still
 * dropped within 50 s; a killed process at once (the kernel closes its TCP socket).
 */
export const CONNECTION_MONITOR = {
  pingInterval: 30_000,
  pingTimeout: { minTimeout: 20_000, maxTimeout: 20_000 },
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
