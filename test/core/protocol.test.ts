import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { RootsyncError } from '../../src/core/errors.ts'
import * as m from '../../src/core/protocol/messages.ts'
import { rlpEncode } from '../../src/core/rlp.ts'

const h = (b: number) => new Uint8Array(32).fill(b)

describe('wire protocol codec', () => {
  it('round-trips every request and response', () => {
    expect(m.decodeHeadersRequest(m.encodeHeadersRequest({ start: 5, count: 10 }))).toEqual({
      start: 5,
      count: 10,
    })
    expect(m.decodeNodesRequest(m.encodeNodesRequest({ hashes: [h(1), h(2)] })).hashes.map(toHex)).toEqual([
      toHex(h(1)),
      toHex(h(2)),
    ])
    const pr = m.decodeProofRequest(
      m.encodeProofRequest({ stateRoot: h(3), address: new Uint8Array(20).fill(4), slots: [h(5)] }),
    )
    expect(toHex(pr.stateRoot)).toBe(toHex(h(3)))
    expect(m.decodeRootRequest(m.encodeRootRequest({ height: 77 }))).toEqual({ height: 77 })
    const status = {
      chainId: 9,
      genesisHash: h(1),
      headNumber: 3,
      headHash: h(2),
      headStateRoot: h(3),
      oldestStateNumber: 0,
    }
    expect(m.decodeStatusResponse(m.encodeStatusResponse(status))).toEqual(status)
    const nodes = [Uint8Array.of(1, 2), new Uint8Array(), Uint8Array.of(3)]
    expect(m.decodeNodesResponse(m.encodeNodesResponse(nodes), 3)).toEqual(nodes)
  })

  it('enforces item caps with TOO_MANY_ITEMS, and refuses empty and oversized requests', () => {
    const many = { hashes: Array.from({ length: 385 }, () => h(1)) }
    expect(() => m.decodeNodesRequest(m.encodeNodesRequest(many), 384)).toThrow(
      expect.objectContaining({ status: m.Status.TOO_MANY_ITEMS }),
    )
    expect(() => m.decodeHeadersRequest(m.encodeHeadersRequest({ start: 0, count: 100_000 }))).toThrow(
      expect.objectContaining({ status: m.Status.TOO_MANY_ITEMS }),
    )
    expect(() => m.decodeNodesRequest(m.encodeNodesRequest({ hashes: [] }))).toThrow(
      expect.objectContaining({ status: m.Status.BAD_REQUEST }),
    )
    expect(() => m.decodeNodesRequest(new Uint8Array(m.LIMITS.maxRequestBytes + 1))).toThrow(
      expect.objectContaining({ status: m.Status.BAD_REQUEST }),
    )
  })

  it('rejects malformed requests with typed errors', () => {
    expect(() => m.decodeNodesRequest(rlpEncode([[new Uint8Array(31)]]))).toThrow(RootsyncError)
    expect(() => m.decodeProofRequest(rlpEncode([h(1), new Uint8Array(19), []]))).toThrow(RootsyncError)
    expect(() => m.decodeStatusRequest(rlpEncode([1]))).toThrow(RootsyncError)
    expect(() => m.decodeRootRequest(Uint8Array.of(0xff))).toThrow(RootsyncError)
  })

  it('an error reply surfaces as a ProtocolError with the server status and message', () => {
    const reply = m.encodeError(m.Status.UNAVAILABLE, 'state root 0x12 is not kept')
    expect(() => m.decodeNodesResponse(reply, 1)).toThrow(
      expect.objectContaining({ status: m.Status.UNAVAILABLE, message: expect.stringMatching(/not kept/) }),
    )
  })

  it('a nodes response longer than the request is refused', () => {
    expect(() =>
      m.decodeNodesResponse(m.encodeNodesResponse([Uint8Array.of(1), Uint8Array.of(2)]), 1),
    ).toThrow(RootsyncError)
  })
})
