import { describe, expect, it } from 'vitest'
import { equals } from '../../src/core/bytes.ts'
import * as wire from '../../src/core/protocol/messages.ts'
import * as range from '../../src/core/protocol/range.ts'
import { encodeBlobsReply } from '../../src/net/blobs-reply.ts'

const bytes = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill)

describe('encodeBlobsReply: the nodes/code success reply in one allocation', () => {
  const cases: [string, Uint8Array[]][] = [
    ['no blobs', []],
    ['empty blobs (unknown hashes)', [bytes(0), bytes(0)]],
    ['single bytes below and at 0x80', [Uint8Array.of(0x00), Uint8Array.of(0x7f), Uint8Array.of(0x80)]],
    ['lengths around the 56-byte header boundary', [bytes(54), bytes(55), bytes(56), bytes(57)]],
    ['lengths needing 1, 2 and 3 length bytes', [bytes(255), bytes(256), bytes(65_535), bytes(65_536)]],
    [
      'a full reply of trie-node-sized blobs',
      Array.from({ length: 1024 }, (_, i) => bytes(32 + (i % 500), i & 0xff)),
    ],
    ['a reply whose list needs a 3-byte length', [bytes(2 * 1024 * 1024)]],
  ]
  for (const [name, blobs] of cases) {
    it(`${name}: the same bytes as the codec's encoder, and the client decodes them back`, () => {
      const out = encodeBlobsReply(blobs)
      expect(equals(out, wire.encodeNodesResponse(blobs))).toBe(true)
      expect(equals(out, range.encodeCodeResponse(blobs))).toBe(true)
      const back = wire.decodeNodesResponse(out, blobs.length)
      expect(back.length).toBe(blobs.length)
      expect(back.every((b, i) => equals(b, blobs[i]!))).toBe(true)
    })
  }
})
