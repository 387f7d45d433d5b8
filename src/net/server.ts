/**
 * Serving side of the wire protocol (docs/protocol.md): one handler per protocol, each reading
 * requests from a stream in a loop and answering them in order through a `ServeBackend`.
 *
 * Security considerations: everything a peer sends is bounded before it costs us anything — message
 * size (framing), item counts (codec), request rate (token bucket per peer), concurrent streams
 * (libp2p's per-connection inbound stream limit) and idle time (a stream that sends nothing is
 * closed). A malformed request gets an error reply; a framing violation resets the stream. Neither
 * affects other streams or peers. Work is admitted fairly: at most `maxActiveRequests` requests are
 * served at once, the next taken from the next waiting peer in turn (fair-queue.ts), so a peer that
 * keeps many streams busy gets no more turns than one that keeps a single request in flight.
 */
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { AccountProof } from '../core/account-proof.ts'
import type { Block } from '../core/chain/block.ts'
import type { SignedHeader } from '../core/chain/header.ts'
import type { LightBlockReply } from '../core/chain/validators.ts'
import { timeoutSignal } from '../core/clock.ts'
import { RlpError, RootsyncError } from '../core/errors.ts'
import * as wire from '../core/protocol/messages.ts'
import * as range from '../core/protocol/range.ts'
import { realClock } from '../platform/clock.ts'
import { encodeBlobsReply } from './blobs-reply.ts'
import { createFairQueue, type FairQueue } from './fair-queue.ts'
import { framedStream, isCleanEnd } from './framing.ts'
import { createRateLimiter } from './rate-limit.ts'

export interface ServeBackend {
  status(): Promise<wire.StatusResponse>
  headers(start: number, count: number): Promise<SignedHeader[]>
  /** One entry per hash, empty if unknown; may stop early to respect `softBytes`. */
  nodes(hashes: Uint8Array[], softBytes: number): Promise<Uint8Array[]>
  /** Throws `ProtocolError(UNAVAILABLE)` for a root it does not serve. */
  proof(req: wire.ProofRequest): Promise<AccountProof>
  root(height: number): Promise<SignedHeader>
  /** The signed header at `height` with its two validator sets; `ProtocolError(UNAVAILABLE)` above the head. */
  validators(height: number): Promise<LightBlockReply>
  blocks(start: number, count: number): Promise<Block[]>
  /**
   * Leaves of the account trie (or of `req.account`'s storage trie) at `req.root` from `req.origin`,
   * with edge proofs, stopping after the first leaf ≥ `req.limit`, past `req.maxBytes` leaf bytes
   * (already clamped to `LIMITS.maxRangeBytes`) or at `maxLeaves`. Throws `ProtocolError(UNAVAILABLE)`
   * for a root it does not serve.
   */
  range(req: range.RangeRequest, maxLeaves: number): Promise<range.RangeReply>
  /** Code blobs by hash, as `nodes`: one entry per hash, empty if unknown, may stop at `softBytes`. */
  code(hashes: Uint8Array[], softBytes: number): Promise<Uint8Array[]>
}

export interface ServeOptions {
  maxNodeHashes: number
  /** Most leaves in one range reply (at most `LIMITS.maxRangeLeaves`). */
  maxRangeLeaves: number
  requestsPerSecond: number
  burst: number
  idleTimeoutMs: number
  maxInboundStreams: number
  /**
   * Requests served at once across all peers; more wait their peer's turn (round robin, fair-queue.ts).
   * 64: above what 16 honest sync clients keep in flight (3 each), so it engages only under a flood.
   * At 8, bench:serve-load (8 clients, 10k accounts, 3 runs each, load avg 12–37) measured fairness
   * 0.73–0.91 against 0.52–0.58 without the queue, but aggregate 1.1–3.3k nodes/s against 2.6–6.5k
   * and server CPU 26–53 µs/node against 21–26: fairer, maybe slower (noise too high to tell), so
   * not the default until measured on a quiet machine.
   */
  maxActiveRequests: number
  /** Called after every request (metrics, logs). */
  onRequest?: (e: RequestEvent) => void
  /** Called when a stream is reset for a framing violation or fails unexpectedly. */
  onStreamError?: (e: { protocol: string; peer: string; error: Error }) => void
}

export interface RequestEvent {
  protocol: wire.ProtocolName
  peer: string
  status: wire.Status
  items: number
  bytesIn: number
  bytesOut: number
  ms: number
}

export const DEFAULT_SERVE_OPTIONS: ServeOptions = {
  maxNodeHashes: wire.LIMITS.maxNodeHashes,
  maxRangeLeaves: wire.LIMITS.maxRangeLeaves,
  requestsPerSecond: 200,
  burst: 400,
  idleTimeoutMs: 30_000,
  maxInboundStreams: 16,
  maxActiveRequests: 64,
}

type Handler = (req: Uint8Array) => Promise<{ reply: Uint8Array; items: number }>

function handlers(b: ServeBackend, o: ServeOptions): Record<wire.ProtocolName, Handler> {
  return {
    status: async (req) => {
      wire.decodeStatusRequest(req)
      return { reply: wire.encodeStatusResponse(await b.status()), items: 1 }
    },
    headers: async (req) => {
      const r = wire.decodeHeadersRequest(req)
      const hs = await b.headers(r.start, r.count)
      return { reply: wire.encodeHeadersResponse(hs), items: hs.length }
    },
    nodes: async (req) => {
      const r = wire.decodeNodesRequest(req, o.maxNodeHashes)
      const nodes = await b.nodes(r.hashes, wire.LIMITS.softResponseBytes)
      return { reply: encodeBlobsReply(nodes), items: countNonEmpty(nodes) }
    },
    proof: async (req) => ({
      reply: wire.encodeProofResponse(await b.proof(wire.decodeProofRequest(req))),
      items: 1,
    }),
    root: async (req) => ({
      reply: wire.encodeRootResponse(await b.root(wire.decodeRootRequest(req).height)),
      items: 1,
    }),
    validators: async (req) => ({
      reply: wire.encodeValidatorsResponse(await b.validators(wire.decodeValidatorsRequest(req).height)),
      items: 1,
    }),
    blocks: async (req) => {
      const r = wire.decodeBlocksRequest(req)
      const bs = await b.blocks(r.start, r.count)
      return { reply: wire.encodeBlocksResponse(bs), items: bs.length }
    },
    range: async (req) => {
      const r = range.decodeRangeProtocolRequest(req)
      if (r.kind === 'code') {
        const codes = await b.code(r.hashes, wire.LIMITS.softResponseBytes)
        return { reply: encodeBlobsReply(codes), items: countNonEmpty(codes) }
      }
      const maxBytes = Math.min(r.req.maxBytes, wire.LIMITS.maxRangeBytes)
      const maxLeaves = Math.min(o.maxRangeLeaves, wire.LIMITS.maxRangeLeaves)
      const reply = await b.range({ ...r.req, maxBytes }, maxLeaves)
      return { reply: range.encodeRangeResponse(reply), items: reply.keys.length }
    },
  }
}

function countNonEmpty(blobs: Uint8Array[]): number {
  let n = 0
  for (const b of blobs) if (b.length) n++
  return n
}

/** Maps a thrown error to the status and message sent back. */
function errorReply(e: unknown): { status: wire.Status; message: string } {
  if (e instanceof wire.ProtocolError) return { status: e.status, message: e.message }
  if (e instanceof RlpError || e instanceof RootsyncError)
    return { status: wire.Status.BAD_REQUEST, message: e.message }
  return { status: wire.Status.INTERNAL, message: 'internal error' }
}

export async function serveProtocols(
  node: Libp2p,
  backend: ServeBackend,
  options: Partial<ServeOptions> = {},
): Promise<void> {
  const o = { ...DEFAULT_SERVE_OPTIONS, ...options }
  const limiter = createRateLimiter(o.requestsPerSecond, o.burst)
  const queue = createFairQueue(o.maxActiveRequests)
  const hs = handlers(backend, o)
  for (const name of Object.keys(wire.PROTOCOLS) as wire.ProtocolName[]) {
    const handle = hs[name]
    await node.handle(
      wire.PROTOCOLS[name],
      (stream: Stream, connection: Connection) =>
        serveStream(name, handle, stream, connection, o, limiter, queue),
      { maxInboundStreams: o.maxInboundStreams, runOnLimitedConnection: true },
    )
  }
}

async function serveStream(
  name: wire.ProtocolName,
  handle: Handler,
  stream: Stream,
  connection: Connection,
  o: ServeOptions,
  limiter: ReturnType<typeof createRateLimiter>,
  queue: FairQueue,
): Promise<void> {
  const peer = connection.remotePeer.toString()
  const lp = framedStream(stream, wire.LIMITS.maxRequestBytes)
  try {
    for (;;) {
      const idle = timeoutSignal(realClock, undefined, o.idleTimeoutMs)
      let req: Uint8Array
      try {
        req = (await lp.read({ signal: idle.signal })).subarray()
      } finally {
        idle.clear()
      }
      const started = performance.now()
      let reply: Uint8Array
      let status = wire.Status.OK
      let items = 0
      if (!limiter.take(peer)) {
        status = wire.Status.RATE_LIMITED
        reply = wire.encodeError(status, `more than ${o.requestsPerSecond} requests/s; slow down`)
      } else {
        try {
          ;({ reply, items } = await queue.run(peer, () => handle(req)))
        } catch (e) {
          const r = errorReply(e)
          status = r.status
          reply = wire.encodeError(r.status, r.message)
          if (r.status === wire.Status.INTERNAL)
            o.onStreamError?.({ protocol: name, peer, error: e as Error })
        }
      }
      const w = timeoutSignal(realClock, undefined, o.idleTimeoutMs)
      try {
        await lp.write(reply, { signal: w.signal })
      } finally {
        w.clear()
      }
      o.onRequest?.({
        protocol: name,
        peer,
        status,
        items,
        bytesIn: req.length,
        bytesOut: reply.length,
        ms: performance.now() - started,
      })
    }
  } catch (e) {
    if (isCleanEnd(e, stream)) {
      await stream.close().catch(() => {})
      return
    }
    // Framing violation, idle timeout or a broken connection: reset this stream only.
    if ((e as Error).name !== 'TimeoutError') o.onStreamError?.({ protocol: name, peer, error: e as Error })
    stream.abort(e as Error)
  }
}
