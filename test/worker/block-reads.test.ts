/**
 * Block reads' decisions with in-memory peers: headers below the verified head are accepted only as
 * a run linked by parent hashes (a peer whose run does not link is charged and the next asked),
 * verified headers are cached as anchors, and heights above the head or beyond the bound are refused
 * with BLOCK_UNAVAILABLE. Code is accepted only when it hashes to the proven code hash.
 */
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { type Header, headerHash, type SignedHeader } from '../../src/core/chain/header.ts'
import { codeMatches, linkBelow, UnlinkedHeadersError } from '../../src/core/chain/header-link.ts'
import { keccak256 } from '../../src/core/hash.ts'
import {
  blockAnswer,
  createBlockReads,
  type HeaderSource,
  MAX_DEPTH,
  parseBlockRef,
  parseBlockTag,
} from '../../src/worker/block-reads.ts'
import type { PeerRegistry, RegisteredPeer } from '../../src/worker/peer-registry.ts'

const b32 = (n: number) => new Uint8Array(32).fill(n & 0xff)

/** A linked chain of `n` headers (0 … n-1), each naming its parent's hash. */
function chain(n: number): Header[] {
  const out: Header[] = []
  for (let i = 0; i < n; i++)
    out.push({
      parentHash: i ? headerHash(out[i - 1]!) : new Uint8Array(32),
      number: i,
      stateRoot: b32(i + 1),
      txRoot: b32(200),
      timestamp: 1_700_000_000 + i,
      validatorsHash: b32(201),
      nextValidatorsHash: b32(202),
      extra: new Uint8Array(0),
    })
  return out
}

interface FakePeer {
  name: string
  /** What it serves for a headers request (default: the true chain). */
  serve?: (start: number, count: number) => Header[]
  asked: number
}

function setup(headers: Header[], fakes: FakePeer[]) {
  const charges: { peer: string; kind: string }[] = []
  const registered = fakes.map(
    (f) =>
      ({
        key: f.name,
        view: { name: f.name },
        client: {
          async headers(start: number, count: number): Promise<SignedHeader[]> {
            f.asked++
            const hs = f.serve ? f.serve(start, count) : headers.slice(start, start + count)
            return hs.map((header) => ({ header, signatures: [] }))
          },
        },
      }) as unknown as RegisteredPeer,
  )
  const peers = {
    usable: () => registered,
    onJoin: () => () => {},
    charge: (p: RegisteredPeer, kind: string) => charges.push({ peer: p.key, kind }),
  } as unknown as PeerRegistry
  const top = headers.at(-1)!
  const src: HeaderSource = {
    head: async () => ({ number: top.number, hash: toHex(headerHash(top)), full: top }),
    peers,
  }
  return { reads: createBlockReads(src), charges }
}

const peer = (name: string, serve?: FakePeer['serve']): FakePeer => ({ name, serve, asked: 0 })

describe('linking headers by parent hashes', () => {
  it('accepts a run that links to the anchor, highest first, with recomputed hashes', () => {
    const hs = chain(6)
    const run = linkBelow(hs[5]!, 2, hs.slice(2, 5))
    expect(run.map((x) => x.header.number)).toEqual([4, 3, 2])
    expect(run.map((x) => toHex(x.hash))).toEqual([4, 3, 2].map((i) => toHex(headerHash(hs[i]!))))
  })

  it('refuses an altered header, a gap, a short run and wrong numbers', () => {
    const hs = chain(6)
    const altered = hs.slice(2, 5).map((h) => (h.number === 3 ? { ...h, stateRoot: b32(99) } : h))
    expect(() => linkBelow(hs[5]!, 2, altered)).toThrow(UnlinkedHeadersError)
    expect(() => linkBelow(hs[5]!, 2, [hs[2]!, hs[4]!])).toThrow(/expected 3 headers/)
    expect(() => linkBelow(hs[5]!, 1, hs.slice(2, 5))).toThrow(UnlinkedHeadersError)
    const renumbered = hs.slice(2, 5).map((h) => ({ ...h, number: h.number + 1 }))
    expect(() => linkBelow(hs[5]!, 2, renumbered)).toThrow(/number/)
    expect(() => linkBelow(hs[5]!, 5, [])).toThrow(UnlinkedHeadersError)
  })

  it('accepts code only when it hashes to the code hash', () => {
    const code = new Uint8Array([0x60, 0x00, 0x60, 0x00, 0xf3])
    expect(codeMatches(keccak256(code), code)).toBe(true)
    expect(codeMatches(keccak256(code), new Uint8Array([0x60]))).toBe(false)
  })
})

describe('block reads', () => {
  it('answers the head as verified by the light client', async () => {
    const hs = chain(10)
    const { reads } = setup(hs, [peer('a')])
    const v = await reads.at('latest')
    expect(v.verifiedBy).toBe('head')
    expect(blockAnswer(v)).toMatchObject({
      number: 9,
      hash: toHex(headerHash(hs[9]!)),
      parentHash: toHex(hs[9]!.parentHash),
      stateRoot: toHex(hs[9]!.stateRoot),
      timestamp: hs[9]!.timestamp,
    })
  })

  it('links an older header, charges a peer whose run does not link, and caches what verified', async () => {
    const hs = chain(40)
    const liar = peer('liar', (s, c) => hs.slice(s, s + c).map((h) => ({ ...h, stateRoot: b32(7) })))
    const honest = peer('honest')
    const { reads, charges } = setup(hs, [liar, honest])
    const v = await reads.at(30)
    expect(v.verifiedBy).toBe('parent-hashes')
    expect(toHex(v.header.stateRoot)).toBe(toHex(hs[30]!.stateRoot))
    expect(charges).toEqual([{ peer: 'liar', kind: 'bad' }])
    // Cached: heights between 30 and the head, and by hash, need no peer.
    const asked = honest.asked
    expect((await reads.at(35)).hash).toBe(toHex(headerHash(hs[35]!)))
    expect((await reads.byHash(headerHash(hs[32]!))).header.number).toBe(32)
    expect(honest.asked).toBe(asked)
    // Below the cache: only the gap down to the lowest cached header is asked.
    let range: [number, number] | null = null
    const spy = peer('spy', (s, c) => {
      range = [s, c]
      return hs.slice(s, s + c)
    })
    const again = setup(hs, [spy])
    await again.reads.at(30)
    await again.reads.at(25)
    expect(range).toEqual([25, 5])
  })

  it('refuses heights above the head, beyond the bound, and unknown hashes with BLOCK_UNAVAILABLE', async () => {
    const hs = chain(MAX_DEPTH + 5)
    const p = peer('a')
    const { reads } = setup(hs, [p])
    await expect(reads.at(MAX_DEPTH + 5)).rejects.toMatchObject({ code: 'BLOCK_UNAVAILABLE' })
    await expect(reads.at(2)).rejects.toMatchObject({
      code: 'BLOCK_UNAVAILABLE',
      message: expect.stringContaining(`at most ${MAX_DEPTH} blocks back`),
    })
    await expect(reads.byHash(headerHash(hs[3]!))).rejects.toMatchObject({ code: 'BLOCK_UNAVAILABLE' })
    expect(p.asked).toBe(0)
  })

  it('fails with BLOCK_UNAVAILABLE naming each peer when none serves a linked run', async () => {
    const hs = chain(20)
    const { reads, charges } = setup(hs, [
      peer('empty', () => []),
      peer('broken', () => {
        throw new Error('stream reset')
      }),
    ])
    const e = await reads.at(10).catch((x) => x)
    expect(e.code).toBe('BLOCK_UNAVAILABLE')
    expect(e.message).toMatch(/empty: .*broken: stream reset/)
    expect(charges.map((c) => c.kind)).toEqual(['failure', 'failure'])
  })

  it('parses block tags and refs strictly', () => {
    expect(parseBlockTag(undefined)).toBe('latest')
    expect(parseBlockTag(7)).toBe(7)
    for (const bad of [-1, 1.5, '7', 'pending', null, Number.MAX_SAFE_INTEGER + 1])
      expect(() => parseBlockTag(bad)).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }))
    expect(parseBlockRef(`0x${'ab'.repeat(32)}`)).toBeInstanceOf(Uint8Array)
    expect(() => parseBlockRef('0x1234')).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }))
  })
})
