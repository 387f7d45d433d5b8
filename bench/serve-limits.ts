/**
 * The over-limit phase of bench:serve-load: requests beyond each limit of docs/protocol.md sent to a
 * serving node (while honest clients sync from it), each checked against the reply the document
 * promises. Every check uses its own libp2p node (its own peer id), so the per-peer limits it trips
 * are its own, never the honest clients'.
 */
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { keccak256 } from '../src/core/hash.ts'
import * as wire from '../src/core/protocol/messages.ts'
import { PeerClient } from '../src/net/client.ts'
import { framedStream } from '../src/net/framing.ts'
import { DEFAULT_SERVE_OPTIONS } from '../src/net/server.ts'
import { createClientLibp2p } from '../src/node/libp2p.ts'

export interface OverLimitCheck {
  limit: string
  sent: string
  expected: string
  observed: string
  ok: boolean
}

const statusOf = (e: unknown): string =>
  e instanceof wire.ProtocolError ? wire.Status[e.status]! : `${(e as Error).name}: ${(e as Error).message}`

/** The reply status a request gets, as a name (OK, TOO_MANY_ITEMS, …) or the transport error. */
async function replyStatus(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (e) {
    return statusOf(e)
  }
}

const hashes = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => keccak256(Uint8Array.of(i & 255, i >> 8)))

async function withNode<T>(fn: (node: Libp2p) => Promise<T>): Promise<T> {
  const node = await createClientLibp2p()
  try {
    return await fn(node)
  } finally {
    await node.stop()
  }
}

/** Whether the stream ends (reset or closed) within `ms`. */
function endsWithin(stream: Stream, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (stream.status !== 'open') return resolve(true)
    const t = setTimeout(() => resolve(false), ms)
    stream.addEventListener(
      'close',
      () => {
        clearTimeout(t)
        resolve(true)
      },
      { once: true },
    )
  })
}

export async function overLimitPhase(ws: string): Promise<OverLimitCheck[]> {
  const addr = multiaddr(ws)
  const out: OverLimitCheck[] = []
  const check = (limit: string, sent: string, expected: string, observed: string): void => {
    out.push({ limit, sent, expected, observed, ok: observed === expected })
  }

  await withNode(async (node) => {
    const peer = new PeerClient(node, addr, { timeoutMs: 30_000 })
    const n = wire.LIMITS.maxNodeHashes + 1
    check(
      'hashes per nodes request',
      `${n} hashes`,
      'TOO_MANY_ITEMS',
      await replyStatus(peer.nodes(hashes(n))),
    )
    const h = wire.LIMITS.maxHeaders + 1
    check('headers per request', `count ${h}`, 'TOO_MANY_ITEMS', await replyStatus(peer.headers(0, h)))
    const c = wire.LIMITS.maxCodeHashes + 1
    check('maxCodeHashes', `${c} code hashes`, 'TOO_MANY_ITEMS', await replyStatus(peer.code(hashes(c))))
    peer.close()

    // A malformed message is answered BAD_REQUEST and the stream keeps serving.
    const s = await node.dialProtocol(addr, wire.PROTOCOLS.nodes)
    const lp = framedStream(s, wire.LIMITS.maxResponseBytes)
    await lp.write(Uint8Array.of(0xc3, 0x01))
    const bad = await replyStatus(lp.read().then((r) => wire.decodeNodesResponse(r.subarray(), 1)))
    await lp.write(wire.encodeNodesRequest({ hashes: hashes(1) }))
    const next = await replyStatus(lp.read().then((r) => wire.decodeNodesResponse(r.subarray(), 1)))
    check(
      'malformed message',
      'RLP 0xc3 0x01, then a valid request',
      'BAD_REQUEST, then OK',
      `${bad}, then ${next}`,
    )
    await s.close()

    // A frame longer than maxRequestBytes: the stream is reset.
    const big = await node.dialProtocol(addr, wire.PROTOCOLS.nodes)
    const blp = framedStream(big, wire.LIMITS.maxResponseBytes)
    await blp.write(new Uint8Array(wire.LIMITS.maxRequestBytes + 100)).catch(() => {})
    check(
      'maxRequestBytes',
      `${wire.LIMITS.maxRequestBytes + 100}-byte frame`,
      'stream reset',
      (await endsWithin(big, 10_000)) ? 'stream reset' : 'still open',
    )

    // A length prefix that never ends: reset at once rather than at the idle timeout.
    const endless = await node.dialProtocol(addr, wire.PROTOCOLS.status)
    endless.send(new Uint8Array(20).fill(0xff))
    check(
      'length prefix',
      '20 bytes of 0xff',
      'stream reset',
      (await endsWithin(endless, 10_000)) ? 'stream reset' : 'still open',
    )
  })

  // More streams on one protocol than the per-peer limit, opened one after another on one
  // connection and kept open: libp2p serves the first 16 and closes those past it.
  await withNode(async (node) => {
    const want = 24
    const open: Stream[] = []
    let served = 0
    for (let i = 0; i < want; i++) {
      try {
        const s = await node.dialProtocol(addr, wire.PROTOCOLS.status)
        open.push(s)
        const lp = framedStream(s, wire.LIMITS.maxResponseBytes)
        await lp.write(wire.encodeStatusRequest(), { signal: AbortSignal.timeout(10_000) })
        wire.decodeStatusResponse((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
        served++
      } catch {}
    }
    const limit = DEFAULT_SERVE_OPTIONS.maxInboundStreams
    check(
      'inbound streams per protocol per peer',
      `${want} streams kept open`,
      `${limit} served, ${want - limit} refused`,
      `${served} served, ${want - served} refused`,
    )
    for (const s of open) s.abort(new Error('done'))
  })

  // Requests faster than the per-peer token bucket: RATE_LIMITED replies, never a dropped connection.
  await withNode(async (node) => {
    const peer = new PeerClient(node, addr, { maxStreamsPerProtocol: 8, timeoutMs: 30_000 })
    let limited = 0
    let sent = 0
    let other = ''
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (limited === 0 && sent < 4000 && !other) {
          sent++
          const r = await replyStatus(peer.status())
          if (r === 'RATE_LIMITED') limited++
          else if (r !== 'OK') other = r
        }
      }),
    )
    const after = await replyStatus(new Promise((r) => setTimeout(r, 1500)).then(() => peer.status()))
    check(
      'request rate per peer',
      `${sent} status requests, 8 in flight`,
      'RATE_LIMITED, then OK after a pause',
      other || `${limited ? 'RATE_LIMITED' : 'none limited'}, then ${after} after a pause`,
    )
    peer.close()
  })

  // New connections from one host faster than libp2p admits them (5 per second): some are refused.
  const burst = 12
  const nodes = await Promise.all(Array.from({ length: burst }, () => createClientLibp2p()))
  try {
    const dialed = await Promise.allSettled(
      nodes.map((n) => new PeerClient(n, addr, { timeoutMs: 15_000 }).status()),
    )
    const refused = dialed.filter((d) => d.status === 'rejected').length
    check(
      'inbound connections per host',
      `${burst} new connections at once`,
      'some refused, the rest served',
      refused > 0 && refused < burst ? 'some refused, the rest served' : `${refused} of ${burst} refused`,
    )
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
  return out
}
