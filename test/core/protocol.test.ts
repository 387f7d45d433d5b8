import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { RlpError, RootsyncError } from '../../src/core/errors.ts'
import * as m from '../../src/core/protocol/messages.ts'
import { asBytes, asList, rlpEncode } from '../../src/core/rlp.ts'

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

  it('nodes responses: the fast reader returns what the full decoder returns, and fails where it fails', () => {
    // The full decoder, as decodeNodesResponse was before its fast path.
    const full = (b: Uint8Array, n: number): string[] => {
      const l = asList(m.payloadOf(b), 'nodes')
      if (l.length > n) throw new RlpError('too many')
      return l.map((x, i) => toHex(asBytes(x, `node ${i}`)))
    }
    const outcome = (f: () => string[]) => {
      try {
        return f()
      } catch (e) {
        expect(e).toBeInstanceOf(RootsyncError)
        return 'throws'
      }
    }
    let seed = 14
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => rand(256))
    let checked = 0
    for (let i = 0; i < 3000; i++) {
      // Nodes of every length class: empty, one byte (above and below 0x80), short, long (≥ 56).
      const nodes = Array.from({ length: rand(6) }, () => bytes([0, 1, 1, 20, 55, 56, 300, 600][rand(8)]!))
      let b = m.encodeNodesResponse(nodes)
      if (i % 3 === 1) {
        b = b.slice()
        for (let k = 0; k <= rand(3); k++) b[rand(b.length)] = rand(256)
      } else if (i % 3 === 2) b = b.subarray(0, rand(b.length + 1))
      if (i % 5 === 0) b = Buffer.from(b) // what the libp2p stream hands over
      const requested = nodes.length + rand(3) - 1
      const got = outcome(() => m.decodeNodesResponse(b, requested).map(toHex))
      expect(got).toEqual(outcome(() => full(b, requested)))
      if (got !== 'throws') checked++
      // A reply as servers encode it takes the fast path.
      if (i % 3 === 0 && requested >= nodes.length) expect(m.scanNodesResponse(b, requested)).not.toBeNull()
    }
    expect(checked).toBeGreaterThan(500)
    // The nodes are copies: plain Uint8Arrays that outlive (and do not alias) the reply buffer.
    const reply = Buffer.from(m.encodeNodesResponse([Uint8Array.of(1, 2, 3, 4)]))
    const [node] = m.decodeNodesResponse(reply, 1)
    expect(node!.constructor).toBe(Uint8Array)
    reply.fill(0)
    expect(toHex(node!)).toBe(toHex(Uint8Array.of(1, 2, 3, 4)))
  })
})
