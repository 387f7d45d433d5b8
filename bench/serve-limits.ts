/**
 * The over-limit phase of bench:serve-load: requests beyond each limit of docs/protocol.md sent to a
 * serving node (while honest clients sync from it), each checked against the reply the document
 * promises. Every check uses its own libp2p node (its own peer id), so the per-peer limits it trips
 * are its own, never the honest clients'.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
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

/**
 * Runs `fn` with a fresh libp2p node (its own peer id) already connected to `addr`: the connection is
 * retried, because the honest clients' own connections count against libp2p's 5 new connections per
 * second per host and a loaded machine upgrades connections slowly.
 */
async function withNode<T>(addr: Multiaddr, fn: (node: Libp2p, conn: Connection) => Promise<T>): Promise<T> {
  const node = await createClientLibp2p()
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await node.dial(addr, { signal: AbortSignal.timeout(15_000) })
        return await fn(node, conn)
      } catch (e) {
        if (attempt >= 10 || node.getConnections().length) throw e
        await new Promise((r) => setTimeout(r, 500))
      }
    }
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

  await withNode(addr, async (node) => {
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
  // connection and kept open: libp2p serves the first 16 and refuses those past it.
  await withNode(addr, async (_node, conn) => {
    const want = 24
    const open: Stream[] = []
    let served = 0
    for (let i = 0; i < want; i++) {
      try {
        const s = await conn.newStream(wire.PROTOCOLS.status, { signal: AbortSignal.timeout(10_000) })
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
      `${want} streams kept open on one connection`,
      `${limit} served, ${want - limit} refused`,
      conn.status === 'open' ? `${served} served, ${want - served} refused` : 'connection lost',
    )
    for (const s of open) s.abort(new Error('done'))
  })

  // Requests faster than the per-peer token bucket (200/s, burst 400): 1,200 status requests
  // pipelined on one stream are read back to back, so the bucket runs dry however loaded the
  // machine is; the ones past it are answered RATE_LIMITED, in order, and the stream stays usable.
  await withNode(addr, async (_node, conn) => {
    const sent = 1200
    const s = await conn.newStream(wire.PROTOCOLS.status)
    const lp = framedStream(s, wire.LIMITS.maxResponseBytes)
    const replies = (async () => {
      const got: string[] = []
      for (let i = 0; i < sent; i++)
        got.push(await replyStatus(lp.read().then((r) => wire.decodeStatusResponse(r.subarray()))))
      return got
    })()
    for (let i = 0; i < sent; i++) await lp.write(wire.encodeStatusRequest())
    const got = await replies
    const limited = got.filter((r) => r === 'RATE_LIMITED').length
    const other = got.find((r) => r !== 'OK' && r !== 'RATE_LIMITED')
    await new Promise((r) => setTimeout(r, 1500))
    await lp.write(wire.encodeStatusRequest())
    const after = await replyStatus(lp.read().then((r) => wire.decodeStatusResponse(r.subarray())))
    check(
      'request rate per peer',
      `${sent} status requests pipelined on one stream`,
      'RATE_LIMITED, then OK after a pause',
      other ?? `${limited ? 'RATE_LIMITED' : 'none limited'}, then ${after} after a pause`,
    )
    await s.close()
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
