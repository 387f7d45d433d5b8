/**
 * The page half of the WebRTC bridge. RTCPeerConnection does not exist in dedicated workers
 * (Chromium 156), so the page dials serving nodes over WebRTC-direct and relays the sync worker's
 * protocol requests to them; the worker half is src/worker/bridged-peer.ts.
 *
 * Per peer: one MessageChannel. `port2` goes to the worker in an `add-peer` message; the page serves
 * `BridgeRequest`s arriving on `port1` with a `PeerClient` over its own libp2p node (stream pool,
 * framing, timeouts) and answers with the raw reply bytes, transferred, or a typed reason. The page
 * decodes and verifies nothing: the worker does all of that, so the relay cannot get anything
 * unverified stored — at worst it makes the peer look faulty. When the connection drops, requests in
 * flight are answered with an error and the worker gets `peer-closed`.
 *
 * This module is small on purpose; libp2p and the WebRTC transport are imported dynamically (one
 * lazy chunk, src/page/libp2p-page.ts) so the page's initial JavaScript does not carry them.
 */
import type {
  BridgeEvent,
  BridgeReply,
  BridgeRequest,
  PeerInfo,
  ToWorker,
  WebRtcBridgeFn,
} from '../api/worker-protocol.ts'

export type { BridgeEvent } from '../api/worker-protocol.ts'

export interface BridgeOptions {
  /** Allow loopback and private addresses (a local devnet). */
  allowLocal: boolean
  /** Aborting closes the bridge, as `close()` does. */
  signal?: AbortSignal
  onEvent?: (e: BridgeEvent) => void
  /** Bound on one dial, ms. */
  dialTimeoutMs?: number
  /**
   * Page-side bound on one relayed request, ms: a safety net behind the worker's own timeout (the
   * worker cancels a request it gives up on, which aborts it here at once).
   */
  requestTimeoutMs?: number
}

/** Counters per bridged peer (what the page relayed, not what the worker accepted). */
export interface BridgeStats {
  peerId: string
  open: boolean
  requests: number
  replies: number
  errors: number
  cancelled: number
  bytes: number
}

export interface WebRtcBridge {
  close(): Promise<void>
  stats(): BridgeStats[]
}

/** The peer's WebRTC-direct address (with its certificate hash), if it has one. */
export function webRtcDirectAddr(peer: PeerInfo): string | undefined {
  return peer.addrs.find((a) => a.includes('/webrtc-direct/') && a.includes('/certhash/'))
}

type Lazy = typeof import('./libp2p-page.ts')

interface Bridged {
  stats: BridgeStats
  port: MessagePort
  client: InstanceType<Lazy['PeerClient']>
  inflight: Map<number, AbortController>
}

export async function bridgeWebRtcPeers(
  peers: PeerInfo[],
  worker: Pick<Worker, 'postMessage'>,
  opts: BridgeOptions,
): Promise<WebRtcBridge> {
  const targets = peers.flatMap((p) => {
    const addr = webRtcDirectAddr(p)
    return addr ? [{ peer: p, addr }] : []
  })
  if (targets.length === 0 || opts.signal?.aborted) return { close: async () => {}, stats: () => [] }

  const lazy: Lazy = await import('./libp2p-page.ts')
  const node = await lazy.createPageLibp2p(opts.allowLocal)
  const bridged = new Map<string, Bridged>()
  let closed = false
  const emit = (e: BridgeEvent) => {
    try {
      opts.onEvent?.(e)
    } catch {}
  }

  /** Ends one peer's bridge: answers what is in flight, tells the worker, closes the port. */
  const drop = (peerId: string, why: string, notify: boolean) => {
    const b = bridged.get(peerId)
    if (!b?.stats.open) return
    b.stats.open = false
    for (const [id, ac] of b.inflight) {
      ac.abort()
      b.port.postMessage({ id, reason: 'stream', message: why } satisfies BridgeReply)
    }
    b.inflight.clear()
    b.client.close()
    worker.postMessage({ type: 'peer-closed', peerId } satisfies ToWorker)
    b.port.close()
    if (notify) emit({ peerId, type: 'closed', message: why })
  }

  node.addEventListener('peer:disconnect', (ev) => {
    drop(ev.detail.toString(), 'WebRTC connection closed', true)
  })

  const serve = (b: Bridged, m: BridgeRequest) => {
    if ('cancel' in m) {
      const ac = b.inflight.get(m.cancel)
      if (ac) {
        b.inflight.delete(m.cancel)
        b.stats.cancelled++
        ac.abort()
      }
      return
    }
    const { id, name, bytes } = m
    b.stats.requests++
    if (!b.stats.open) {
      b.port.postMessage({ id, reason: 'stream', message: 'WebRTC connection closed' } satisfies BridgeReply)
      return
    }
    if (!Object.hasOwn(lazy.PROTOCOLS, name)) {
      b.stats.errors++
      b.port.postMessage({
        id,
        reason: 'stream',
        message: `unknown protocol ${String(name)}`,
      } satisfies BridgeReply)
      return
    }
    const ac = new AbortController()
    b.inflight.set(id, ac)
    b.client.request(name, bytes, ac.signal).then(
      (reply) => {
        if (!b.inflight.delete(id)) return // cancelled or dropped: the worker has already given up
        b.stats.replies++
        b.stats.bytes += reply.byteLength
        const own = ownBuffer(reply)
        b.port.postMessage({ id, bytes: own } satisfies BridgeReply, [own.buffer])
      },
      (e: unknown) => {
        if (!b.inflight.delete(id)) return
        b.stats.errors++
        if (e instanceof lazy.ProtocolError) {
          // A refusal the client made itself (the peer lacks the range protocol): relayed as the
          // error reply it stands for, so the worker decodes the same typed error.
          const own = ownBuffer(lazy.encodeError(e.status, e.message))
          b.port.postMessage({ id, bytes: own } satisfies BridgeReply, [own.buffer])
          return
        }
        const reason = e instanceof lazy.PeerRequestError ? e.reason : 'stream'
        b.port.postMessage({ id, reason, message: (e as Error).message } satisfies BridgeReply)
      },
    )
  }

  const dialOne = async ({ peer, addr }: (typeof targets)[number]) => {
    const ma = lazy.multiaddr(addr)
    const ac = new AbortController()
    const timer = setTimeout(() => ac.abort(new Error('dial timed out')), opts.dialTimeoutMs ?? 15_000)
    const onAbort = () => ac.abort(opts.signal?.reason)
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    try {
      const conn = await node.dial(ma, { signal: ac.signal })
      if (closed) return
      const peerId = conn.remotePeer.toString()
      if (peerId !== peer.peerId) throw new Error(`dialled ${peer.peerId} but reached ${peerId}`)
      const { port1, port2 } = new MessageChannel()
      const b: Bridged = {
        stats: { peerId, open: true, requests: 0, replies: 0, errors: 0, cancelled: 0, bytes: 0 },
        port: port1,
        client: new lazy.PeerClient(node, ma, { timeoutMs: opts.requestTimeoutMs ?? 30_000 }),
        inflight: new Map(),
      }
      bridged.set(peerId, b)
      port1.onmessage = (ev: MessageEvent<BridgeRequest>) => serve(b, ev.data)
      port1.start()
      worker.postMessage(
        { type: 'add-peer', peer: { peerId, name: peer.name, addr }, port: port2 } satisfies ToWorker,
        [port2],
      )
      emit({ peerId, type: 'connected' })
    } catch (e) {
      emit({ peerId: peer.peerId, type: 'failed', message: (e as Error).message ?? String(e) })
    } finally {
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
    }
  }

  const close = async () => {
    if (closed) return
    closed = true
    for (const id of [...bridged.keys()]) drop(id, 'bridge closed', false)
    try {
      await node.stop()
    } catch {}
  }
  opts.signal?.addEventListener('abort', () => void close(), { once: true })

  await Promise.all(targets.map(dialOne))
  return {
    close,
    stats: () => [...bridged.values()].map((b) => ({ ...b.stats })),
  }
}

/**
 * The reply as a view over a whole ArrayBuffer of its own, so its buffer can be transferred. A
 * reply read off a stream may be a view into a buffer libp2p still uses for other data: detaching
 * that would corrupt it, so such a reply is copied first (a memcpy, cheap next to the message hop).
 */
function ownBuffer(b: Uint8Array): Uint8Array<ArrayBuffer> {
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer)
    return b as Uint8Array<ArrayBuffer>
  return b.slice()
}

/** The bridge as the embeddable client takes it (`createRootsyncClient({ bridge })`). */
export const webRtcBridge: WebRtcBridgeFn = bridgeWebRtcPeers
