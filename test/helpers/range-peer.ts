/**
 * An in-memory peer that serves range requests honestly from a store holding a real state (through
 * `serveRange`, as the serving node does), optionally mangled to lie: for unit tests of the network
 * snapshot strategy and the recovery manager.
 */
import { decodeAccount } from '../../src/core/account.ts'
import type { LightPeer, PeerWire } from '../../src/core/light/peers.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import type { RangeReply, RangeRequest } from '../../src/core/protocol/range.ts'
import type { NodeStore } from '../../src/core/store.ts'
import { serveRange } from '../../src/core/trie/range-serve.ts'
import { Trie } from '../../src/core/trie/trie.ts'

export type Mangle = (r: RangeReply, req: RangeRequest) => RangeReply

export interface PeerOpts {
  maxLeaves?: number
  mangle?: Mangle
  /** Replaces the range reply entirely (unavailable, staller). */
  range?: (req: RangeRequest) => Promise<RangeReply>
  code?: (hashes: Uint8Array[]) => Promise<Uint8Array[]>
  /** Sees every honest reply before it is returned (counting, aborting). */
  onRange?: (req: RangeRequest, reply: RangeReply) => void
}

const unused = () => Promise.reject(new Error('not used by a snapshot sync'))

export function rangePeer(
  id: string,
  src: NodeStore,
  o: PeerOpts = {},
): LightPeer & { requests: RangeRequest[] } {
  const requests: RangeRequest[] = []
  const wire: PeerWire = {
    status: unused,
    headers: unused,
    nodes: unused,
    proof: unused,
    blocks: unused,
    async range(req) {
      requests.push(req)
      if (o.range) return o.range(req)
      let root = req.root
      if (req.account) {
        const v = await new Trie(src, { root: req.root }).get(req.account)
        if (!v) throw new ProtocolError(Status.UNAVAILABLE, 'no such account')
        root = decodeAccount(v).storageRoot
      }
      const reply = await serveRange(src, root, req.origin, req.limit, {
        maxBytes: req.maxBytes,
        maxLeaves: o.maxLeaves ?? 8,
      })
      o.onRange?.(req, reply)
      return o.mangle ? o.mangle(reply, req) : reply
    },
    code:
      o.code ??
      (async (hashes) => Promise.all(hashes.map(async (h) => (await src.getNode(h)) ?? new Uint8Array(0)))),
  }
  return { id, wire, requests }
}
