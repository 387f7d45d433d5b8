/**
 * Decoder fuzzing: random bytes and mutations of valid encodings fed to every decoder of untrusted
 * input. A decoder passes if each input either decodes or throws a `RootsyncError` (a typed error);
 * any other throw (TypeError, RangeError, …) is a crash. Hangs show up as the run not finishing.
 */
import {
  accountRefs,
  decodeAccount,
  EMPTY_CODE_HASH,
  EMPTY_ROOT,
  encodeAccount,
} from '../../src/core/account.ts'
import { decodeBlock, encodeBlock } from '../../src/core/chain/block.ts'
import {
  decodeHeader,
  decodeSignedHeader,
  encodeHeader,
  encodeSignedHeader,
} from '../../src/core/chain/header.ts'
import { createRng, type Rng } from '../../src/core/chain/rng.ts'
import { decodeTransaction, encodeTransaction, signTransaction } from '../../src/core/chain/tx.ts'
import { parseEvidence, parseResults, verifyEvidence } from '../../src/core/consistency/records.ts'
import { evidenceOf } from '../../src/core/consistency/roots.ts'
import { RootsyncError } from '../../src/core/errors.ts'
import { keccak256 } from '../../src/core/hash.ts'
import * as wire from '../../src/core/protocol/messages.ts'
import * as range from '../../src/core/protocol/range.ts'
import { rlpDecode, rlpEncode } from '../../src/core/rlp.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { childRefs, decodeNode } from '../../src/core/trie/node.ts'
import { verifyProof } from '../../src/core/trie/proof.ts'
import { serveRange } from '../../src/core/trie/range-serve.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { checkpoint, headerAt, signBy, trusted } from '../helpers/forked-headers.ts'

export type Decoder = (input: Uint8Array) => unknown

export interface FuzzTarget {
  name: string
  decode: Decoder
  /** Valid encodings to mutate. */
  corpus: Uint8Array[]
}

export interface FuzzReport {
  inputs: number
  decoded: number
  rejected: number
  crashes: { target: string; input: string; error: string }[]
}

/** Small valid encodings of every kind, built from real objects. */
export async function defaultTargets(extra: FuzzTarget[] = []): Promise<FuzzTarget[]> {
  const store = new MemoryNodeStore()
  const trie = new Trie(store, { secure: true })
  for (let i = 0; i < 64; i++) {
    await trie.put(
      keccak256(Uint8Array.of(i)).slice(0, 20),
      encodeAccount({
        nonce: BigInt(i),
        balance: BigInt(i) * 10n ** 18n,
        storageRoot: EMPTY_ROOT,
        codeHash: EMPTY_CODE_HASH,
      }),
    )
  }
  const { nodes, root } = trie.pendingNodes()
  await trie.commit()
  const served = await serveRange(store, root, keccak256(Uint8Array.of(9)), range.LAST_KEY, {
    maxBytes: 1024,
    maxLeaves: 8,
  })
  const nodeCorpus = nodes.map(([, enc]) => enc)
  const key = keccak256(Uint8Array.of(1))
  const tx = signTransaction(
    {
      chainId: 1,
      nonce: 3n,
      to: new Uint8Array(20).fill(1),
      value: 10n,
      writes: [{ slot: new Uint8Array(32), value: 5n }],
    },
    key,
  )
  const header = {
    parentHash: new Uint8Array(32).fill(2),
    number: 7,
    stateRoot: root,
    txRoot: EMPTY_ROOT,
    timestamp: 1_700_000_000,
    validatorsHash: new Uint8Array(32).fill(5),
    nextValidatorsHash: new Uint8Array(32).fill(6),
    extra: new Uint8Array(3),
  }
  const signed = { header, signatures: [{ validator: 0, signature: new Uint8Array(65).fill(1) }] }
  const proof = await trie.prove(keccak256(Uint8Array.of(5)).slice(0, 20))
  return [
    {
      name: 'rlp',
      decode: rlpDecode,
      corpus: [rlpEncode([1, [2, 3], new Uint8Array(60)]), ...nodeCorpus.slice(0, 4)],
    },
    { name: 'trie node', decode: (b) => childRefs(decodeNode(b), 'state', accountRefs), corpus: nodeCorpus },
    {
      name: 'account',
      decode: decodeAccount,
      corpus: [encodeAccount({ nonce: 1n, balance: 2n, storageRoot: EMPTY_ROOT, codeHash: EMPTY_CODE_HASH })],
    },
    { name: 'transaction', decode: decodeTransaction, corpus: [encodeTransaction(tx)] },
    { name: 'header', decode: decodeHeader, corpus: [encodeHeader(header)] },
    { name: 'signed header', decode: decodeSignedHeader, corpus: [encodeSignedHeader(signed)] },
    {
      name: 'block',
      decode: decodeBlock,
      corpus: [
        encodeBlock({
          ...signed,
          transactions: [tx, tx],
          validatorUpdates: [{ slot: 1, address: new Uint8Array(20).fill(9) }],
        }),
      ],
    },
    {
      name: 'proof',
      // The input replaces one proof node.
      decode: (b) =>
        verifyProof(root, keccak256(keccak256(Uint8Array.of(5)).slice(0, 20)), [b, ...proof.slice(1)]),
      corpus: proof.slice(0, 1),
    },
    ...protocolTargets(tx, signed, root),
    ...rangeTargets(root, served),
    ...consistencyTargets(),
    ...extra,
  ]
}

/** Every decoder of the wire protocol, requests (server side) and responses (client side). */
function protocolTargets(
  tx: Parameters<typeof encodeTransaction>[0],
  signed: Parameters<typeof encodeSignedHeader>[0],
  root: Uint8Array,
): FuzzTarget[] {
  const hashes = [root, keccak256(root)]
  const proof = {
    address: new Uint8Array(20),
    balance: 1n,
    nonce: 2n,
    codeHash: root,
    storageHash: root,
    accountProof: [root],
    storageProof: [{ key: root, value: 3n, proof: [root] }],
  }
  return [
    { name: 'status request', decode: wire.decodeStatusRequest, corpus: [wire.encodeStatusRequest()] },
    {
      name: 'headers request',
      decode: (b) => wire.decodeHeadersRequest(b),
      corpus: [wire.encodeHeadersRequest({ start: 1, count: 20 })],
    },
    {
      name: 'blocks request',
      decode: (b) => wire.decodeBlocksRequest(b),
      corpus: [wire.encodeBlocksRequest({ start: 1, count: 2 })],
    },
    {
      name: 'nodes request',
      decode: (b) => wire.decodeNodesRequest(b),
      corpus: [wire.encodeNodesRequest({ hashes })],
    },
    {
      name: 'proof request',
      decode: wire.decodeProofRequest,
      corpus: [wire.encodeProofRequest({ stateRoot: root, address: new Uint8Array(20), slots: hashes })],
    },
    { name: 'root request', decode: wire.decodeRootRequest, corpus: [wire.encodeRootRequest({ height: 9 })] },
    {
      name: 'status response',
      decode: wire.decodeStatusResponse,
      corpus: [
        wire.encodeStatusResponse({
          chainId: 1,
          genesisHash: root,
          headNumber: 4,
          headHash: root,
          headStateRoot: root,
          oldestStateNumber: 0,
        }),
      ],
    },
    {
      name: 'headers response',
      decode: (b) => wire.decodeHeadersResponse(b),
      corpus: [wire.encodeHeadersResponse([signed, signed])],
    },
    {
      name: 'nodes response',
      decode: (b) => wire.decodeNodesResponse(b, 4),
      corpus: [
        wire.encodeNodesResponse([root, new Uint8Array()]),
        wire.encodeError(wire.Status.UNAVAILABLE, 'x'),
      ],
    },
    { name: 'proof response', decode: wire.decodeProofResponse, corpus: [wire.encodeProofResponse(proof)] },
    { name: 'root response', decode: wire.decodeRootResponse, corpus: [wire.encodeRootResponse(signed)] },
    {
      name: 'blocks response',
      decode: (b) => wire.decodeBlocksResponse(b),
      corpus: [wire.encodeBlocksResponse([{ ...signed, transactions: [tx], validatorUpdates: [] }])],
    },
  ]
}

/**
 * What consistency checks keep in the store (local data is untrusted): the results and evidence
 * parsers, and the re-verification of stored evidence before it halts reads.
 */
function consistencyTargets(): FuzzTarget[] {
  const local = signBy(headerAt(5), [0, 1, 2, 3, 4])
  const e = evidenceOf(checkpoint, trusted(local), signBy(headerAt(5, 1), [2, 3, 4, 5, 6]), 'p', 1)
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v))
  const result = {
    checkedAt: 1,
    height: 5,
    root: e.local.hash,
    stateRootMatches: false,
    accountMatches: 1,
    sampled: 2,
    discrepancies: [
      { kind: 'Equivocation', height: 5, peer: 'p', evidence: e.id, action: 'halted', detail: '' },
    ],
    peers: [
      {
        peer: 'p',
        root: 'equivocation',
        proofsValid: 1,
        proofsInvalid: 0,
        proofsUnavailable: 0,
        charged: null,
      },
    ],
    repaired: [],
    recovery: null,
    summary: 'equivocation at 5',
    ms: 3,
  }
  return [
    { name: 'consistency results', decode: parseResults, corpus: [json([result, result])] },
    { name: 'consistency evidence', decode: parseEvidence, corpus: [json([e])] },
    {
      name: 'stored evidence verified',
      decode: (b) => {
        for (const x of parseEvidence(b)) verifyEvidence(checkpoint, x)
      },
      corpus: [json([e])],
    },
  ]
}

/** The range protocol's decoders (`/rootsync/range/1`): its three requests and two replies. */
function rangeTargets(root: Uint8Array, served: range.RangeReply): FuzzTarget[] {
  const req = { root, origin: keccak256(root), limit: range.LAST_KEY, maxBytes: 4096 }
  return [
    {
      name: 'range request',
      decode: (b) => range.decodeRangeProtocolRequest(b),
      corpus: [
        range.encodeRangeRequest(req),
        range.encodeRangeRequest({ ...req, account: keccak256(req.origin) }),
        range.encodeCodeRequest([root, req.origin]),
      ],
    },
    {
      name: 'range response',
      decode: range.decodeRangeResponse,
      corpus: [range.encodeRangeResponse(served), wire.encodeError(wire.Status.UNAVAILABLE, 'x')],
    },
    {
      name: 'code response',
      decode: (b) => range.decodeCodeResponse(b, 3),
      corpus: [range.encodeCodeResponse([Uint8Array.of(0x60, 0x01), new Uint8Array()])],
    },
  ]
}

export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const b = input.slice()
  switch (rng.int(7)) {
    case 0: // flip bits
      for (let i = 0, n = 1 + rng.int(4); i < n && b.length; i++) b[rng.int(b.length)]! ^= 1 << rng.int(8)
      return b
    case 1: // truncate
      return b.subarray(0, rng.int(b.length + 1))
    case 2: {
      // insert random bytes
      const at = rng.int(b.length + 1)
      const ins = rng.bytes(1 + rng.int(8))
      const out = new Uint8Array(b.length + ins.length)
      out.set(b.subarray(0, at))
      out.set(ins, at)
      out.set(b.subarray(at), at + ins.length)
      return out
    }
    case 3: // set a byte to an RLP boundary value (length prefixes are where decoders go wrong)
      if (b.length)
        b[rng.int(b.length)] = [0x00, 0x7f, 0x80, 0xb7, 0xb8, 0xbf, 0xc0, 0xf7, 0xf8, 0xff][rng.int(10)]!
      return b
    case 4: // claim a huge length in the first prefix
      if (b.length > 2) {
        b[0] = rng.int(2) ? 0xbf : 0xff
        b[1] = 0xff
      }
      return b
    case 5: // duplicate a slice
      return Uint8Array.from([...b, ...b.subarray(rng.int(b.length + 1))])
    default: // overwrite a run
      if (b.length) b.set(rng.bytes(Math.min(b.length, 1 + rng.int(16))), 0)
      return b
  }
}

export function fuzz(targets: FuzzTarget[], iterations: number, seed: string): FuzzReport {
  const rng = createRng(`fuzz/${seed}`)
  const report: FuzzReport = { inputs: 0, decoded: 0, rejected: 0, crashes: [] }
  for (let i = 0; i < iterations; i++) {
    const t = targets[i % targets.length]!
    const input =
      rng.int(4) === 0 || t.corpus.length === 0
        ? rng.bytes(rng.int(200))
        : mutate(rng, mutate(rng, t.corpus[rng.int(t.corpus.length)]!))
    report.inputs++
    try {
      t.decode(input)
      report.decoded++
    } catch (e) {
      if (e instanceof RootsyncError) report.rejected++
      else if (report.crashes.length < 20) {
        report.crashes.push({
          target: t.name,
          input: Buffer.from(input).toString('hex'),
          error: String((e as Error)?.stack ?? e),
        })
      }
    }
  }
  return report
}
