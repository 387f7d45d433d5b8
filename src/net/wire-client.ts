/**
 * The typed side of the wire protocol, independent of how request bytes reach a peer: a libp2p
 * stream pool (`PeerClient`) or a bridge to a connection another thread owns (the page's WebRTC
 * connections, handed to the sync worker over a MessagePort). Subclasses supply `request`.
 *
 * Replies are decoded with the strict codec; nothing about their content is verified here (callers
 * hash nodes, verify headers and proofs: see src/core).
 */
import type { AccountProof } from '../core/account-proof.ts'
import type { Block } from '../core/chain/block.ts'
import type { SignedHeader } from '../core/chain/header.ts'
import type { LightBlockReply } from '../core/chain/validators.ts'
import * as wire from '../core/protocol/messages.ts'
import * as range from '../core/protocol/range.ts'

export abstract class WireClient {
  abstract readonly id: string
  /** Sends one request and returns the raw reply; transport failures throw `PeerRequestError`. */
  abstract request(name: wire.ProtocolName, bytes: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>
  abstract close(): void

  async status(signal?: AbortSignal): Promise<wire.StatusResponse> {
    return wire.decodeStatusResponse(await this.request('status', wire.encodeStatusRequest(), signal))
  }
  async headers(start: number, count: number, signal?: AbortSignal): Promise<SignedHeader[]> {
    return wire.decodeHeadersResponse(
      await this.request('headers', wire.encodeHeadersRequest({ start, count }), signal),
    )
  }
  async nodes(hashes: Uint8Array[], signal?: AbortSignal): Promise<Uint8Array[]> {
    return wire.decodeNodesResponse(
      await this.request('nodes', wire.encodeNodesRequest({ hashes }), signal),
      hashes.length,
    )
  }
  async proof(req: wire.ProofRequest, signal?: AbortSignal): Promise<AccountProof> {
    return wire.decodeProofResponse(await this.request('proof', wire.encodeProofRequest(req), signal))
  }
  async root(height: number, signal?: AbortSignal): Promise<SignedHeader> {
    return wire.decodeRootResponse(await this.request('root', wire.encodeRootRequest({ height }), signal))
  }
  /** The signed header at `height` with its validator sets, unverified: check with `lightBlockOf`. */
  async validators(height: number, signal?: AbortSignal): Promise<LightBlockReply> {
    return wire.decodeValidatorsResponse(
      await this.request('validators', wire.encodeValidatorsRequest({ height }), signal),
    )
  }
  async blocks(start: number, count: number, signal?: AbortSignal): Promise<Block[]> {
    return wire.decodeBlocksResponse(
      await this.request('blocks', wire.encodeBlocksRequest({ start, count }), signal),
    )
  }
  /**
   * A run of leaves with its edge proof (`/rootsync/range/1`), unverified: check it with
   * `verifyRangeProof`. A peer that does not serve `req.root` throws `ProtocolError` UNAVAILABLE
   * (`range.isUnavailable`).
   */
  async range(req: range.RangeRequest, signal?: AbortSignal): Promise<range.RangeReply> {
    return range.decodeRangeResponse(await this.request('range', range.encodeRangeRequest(req), signal))
  }
  /** Code by hash, in request order; empty where the peer lacks one; may stop early. Unverified. */
  async code(hashes: Uint8Array[], signal?: AbortSignal): Promise<Uint8Array[]> {
    return range.decodeCodeResponse(
      await this.request('range', range.encodeCodeRequest(hashes), signal),
      hashes.length,
    )
  }
}
