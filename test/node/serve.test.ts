/**
 * The serving node over real libp2p between real processes: a producer and two followers
 * (`rootsync serve`), and a Node client dialing them over WebSockets.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountRefs } from '../../src/core/account.ts'
import { verifyAccountProof } from '../../src/core/account-proof.ts'
import { equals, fromHex, toHex } from '../../src/core/bytes.ts'
import { applyBlock } from '../../src/core/chain/apply.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { slotWord } from '../../src/core/chain/tx.ts'
import { keccak256 } from '../../src/core/hash.ts'
import * as wire from '../../src/core/protocol/messages.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { childRefs, decodeNode } from '../../src/core/trie/node.ts'
import { PeerClient } from '../../src/net/client.ts'
import { framedStream } from '../../src/net/framing.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { verifySequentially } from '../helpers/devnet-chain.ts'
import { makeDevnetFiles, type NodeProc, startNode, stopAllNodes, stopNode } from '../helpers/nodes.ts'

const BLOCK_MS = 1000
const RETAIN = 6

let files: ReturnType<typeof makeDevnetFiles>
let producer: NodeProc
let followers: NodeProc[]
let client: Libp2p
let peer: PeerClient

beforeAll(async () => {
  files = makeDevnetFiles()
  producer = await startNode('producer', `${files.dir}/node-0`, [
    '--genesis',
    files.genesisFile,
    '--produce',
    files.keysFile,
    '--block-time',
    String(BLOCK_MS),
    '--txs',
    '10',
    '--retain',
    String(RETAIN),
  ])
  followers = await Promise.all(
    [1, 2].map((i) =>
      startNode(`follower-${i}`, `${files.dir}/node-${i}`, [
        '--genesis',
        files.genesisFile,
        '--follow',
        producer.ws,
        '--retain',
        String(RETAIN),
      ]),
    ),
  )
  client = await createClientLibp2p()
  peer = new PeerClient(client, multiaddr(producer.ws))
  await producer.waitHead(3)
}, 120_000)

afterAll(async () => {
  peer?.close()
  await client?.stop()
  await stopAllNodes()
})

describe('serving node over libp2p', () => {
  it('status: every node reports the same chain', async () => {
    const genesisHash = headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis)))
    for (const n of [producer, ...followers]) {
      // A follower reports a head once it has imported one: wait for that, not for time to pass.
      await n.waitHead(1, 30_000)
      const p = new PeerClient(client, multiaddr(n.ws))
      const s = await p.status()
      expect(s.chainId).toBe(files.genesis.chainId)
      expect(toHex(s.genesisHash)).toBe(toHex(genesisHash))
      expect(s.headNumber).toBeGreaterThanOrEqual(1)
      p.close()
    }
  })

  it('headers: a range verifies as a chain from the genesis checkpoint (links and validator quorum)', async () => {
    const s = await peer.status()
    const headers = await peer.headers(1, s.headNumber)
    expect(headers.length).toBe(s.headNumber)
    // Each header with the validator sets served for its height, checked one by one against them.
    const replies = await Promise.all(headers.map((h) => peer.validators(h.header.number)))
    for (const [i, r] of replies.entries())
      expect(toHex(headerHash(r.signed.header))).toBe(toHex(headerHash(headers[i]!.header)))
    const g = genesisHeader(files.genesis, genesisStateRoot(files.genesis))
    const last = verifySequentially(files.genesis.chainId, g, replies)
    expect(last.header.number).toBe(s.headNumber)
    expect(toHex(last.hash)).toBe(toHex(s.headHash))
    // Above the head there is nothing to serve: UNAVAILABLE, which costs the asker's peer nothing.
    await expect(peer.validators(s.headNumber + 1000)).rejects.toMatchObject({
      status: wire.Status.UNAVAILABLE,
    })
  })

  it('state nodes: each hashes to what was asked, in order; unknown hashes come back empty', async () => {
    const s = await peer.status()
    const [root] = await peer.nodes([s.headStateRoot])
    expect(toHex(keccak256(root!))).toBe(toHex(s.headStateRoot))
    const children = childRefs(decodeNode(root!), 'state', accountRefs).map((r) => r.hash)
    const unknown = new Uint8Array(32).fill(0xee)
    const asked = [...children, unknown]
    const got = await peer.nodes(asked)
    expect(got.length).toBe(asked.length)
    for (let i = 0; i < children.length; i++) expect(toHex(keccak256(got[i]!))).toBe(toHex(children[i]!))
    expect(got[got.length - 1]!.length).toBe(0)
  })

  it('account proof: verifies against the signed header’s state root, with storage', async () => {
    const s = await peer.status()
    const [signed] = await peer.headers(s.headNumber, 1)
    const root = signed!.header.stateRoot
    const spender = addressOf(files.keys.spenders[0]!)
    const p = await peer.proof({ stateRoot: root, address: spender, slots: [] })
    const v = verifyAccountProof(root, p)
    expect(v.account!.balance).toBeGreaterThan(0n)
    const [contract, info] = files.genesis.alloc.find(([, a]) => a.code.length > 0)!
    const slots = [slotWord(1n), slotWord(5n), slotWord(1000n)]
    const cp = verifyAccountProof(root, await peer.proof({ stateRoot: root, address: contract, slots }))
    expect(equals(cp.account!.codeHash, keccak256(info.code))).toBe(true)
    expect(cp.storage[2]!.value).toBe(0n) // never written: proven absent
    // A proof whose claims were altered in transit fails verification.
    expect(() => verifyAccountProof(root, { ...p, balance: p.balance + 1n })).toThrow()
  })

  it('blocks: re-applied from genesis they reach the same state roots', async () => {
    const s = await peer.status()
    const blocks = await peer.blocks(1, Math.min(s.headNumber, 20))
    expect(blocks.length).toBeGreaterThan(0)
    const store = new MemoryNodeStore()
    const nodes: [Uint8Array, Uint8Array][] = []
    const root = genesisStateRoot(files.genesis, (h, b) => nodes.push([h, b]))
    await store.write({ nodes })
    let state = new StateDB(store, root)
    for (const b of blocks) {
      const r = await applyBlock(state, b, files.genesis.chainId)
      expect(toHex(r.commit.root)).toBe(toHex(b.header.stateRoot))
      await store.write({ nodes: r.commit.nodes })
      r.commit.markStored()
      state = r.state
    }
  })

  it('followers (separate processes, following over the protocol) reach each producer head within two block times', async () => {
    const from = producer.heads.at(-1)!.number + 1
    await producer.waitHead(from + 3, 20_000)
    for (const f of followers) await f.waitHead(from + 3, 2 * BLOCK_MS + 5_000)
    for (let n = from; n <= from + 3; n++) {
      const p = producer.heads.find((h) => h.number === n)!
      for (const f of followers) {
        const h = f.heads.find((x) => x.number === n)!
        expect(h.stateRoot).toBe(p.stateRoot)
        expect(h.at - p.at).toBeLessThanOrEqual(2 * BLOCK_MS)
      }
    }
  })
})

describe('limits hold, and the node keeps serving other peers', () => {
  async function rawStream(protocol: string) {
    const stream = await client.dialProtocol(multiaddr(producer.ws), protocol)
    return { stream, lp: framedStream(stream, wire.LIMITS.maxResponseBytes) }
  }

  it('a request over the item cap gets TOO_MANY_ITEMS', async () => {
    const hashes = Array.from({ length: wire.LIMITS.maxNodeHashes + 1 }, (_, i) =>
      keccak256(Uint8Array.of(i & 255, i >> 8)),
    )
    await expect(peer.nodes(hashes)).rejects.toMatchObject({ status: wire.Status.TOO_MANY_ITEMS })
  })

  it('a malformed message gets BAD_REQUEST and the stream stays usable', async () => {
    const { stream, lp } = await rawStream(wire.PROTOCOLS.nodes)
    await lp.write(Uint8Array.of(0xc3, 0x01))
    const reply = (await lp.read()).subarray()
    expect(() => wire.decodeNodesResponse(reply, 1)).toThrow(
      expect.objectContaining({ status: wire.Status.BAD_REQUEST }),
    )
    await lp.write(wire.encodeStatusRequest())
    const second = (await lp.read()).subarray()
    expect(() => wire.decodeNodesResponse(second, 1)).toThrow(
      expect.objectContaining({ status: wire.Status.BAD_REQUEST }),
    )
    await stream.close()
  })

  it('an oversized message and an endless length prefix reset the stream; the node still serves', async () => {
    const big = await rawStream(wire.PROTOCOLS.nodes)
    await big.lp.write(new Uint8Array(wire.LIMITS.maxRequestBytes + 100))
    await expect(big.lp.read({ signal: AbortSignal.timeout(5000) })).rejects.toThrow()
    const endless = await client.dialProtocol(multiaddr(producer.ws), wire.PROTOCOLS.status)
    endless.send(new Uint8Array(20).fill(0xff))
    const ended = await new Promise<string>((res) => {
      endless.addEventListener('close', () => res(endless.status), { once: true })
      setTimeout(() => res('still open'), 5000)
    })
    expect(ended).not.toBe('still open')
    expect((await peer.status()).chainId).toBe(files.genesis.chainId)
  })

  it('a flood of streams and requests from one peer is throttled while another peer is served', async () => {
    const flooder = await createClientLibp2p()
    const other = new PeerClient(client, multiaddr(producer.ws))
    try {
      const fp = new PeerClient(flooder, multiaddr(producer.ws), {
        maxStreamsPerProtocol: 64,
        timeoutMs: 20_000,
      })
      const results = await Promise.allSettled(
        Array.from({ length: 600 }, () => fp.request('status', wire.encodeStatusRequest())),
      )
      let ok = 0
      let refused = 0
      for (const r of results) {
        if (r.status === 'rejected') refused++
        else {
          try {
            wire.decodeStatusResponse(r.value)
            ok++
          } catch (e) {
            if ((e as wire.ProtocolError).status === wire.Status.RATE_LIMITED) refused++
            else throw e
          }
        }
      }
      // Streams past the per-connection limit are refused.
      expect(ok).toBeGreaterThan(0)
      expect(refused).toBeGreaterThan(0)
      fp.close()
      await new Promise((r) => setTimeout(r, 200))
      // Requests past the per-peer rate (200/s, burst 400) on the streams it may keep are answered
      // RATE_LIMITED. How fast this client can send depends on the machine's load, so it keeps
      // sending (at most 4000 requests) until the bucket runs dry rather than sending a fixed count.
      const steady = new PeerClient(flooder, multiaddr(producer.ws), { maxStreamsPerProtocol: 8 })
      let rateLimited = 0
      let sent = 0
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (rateLimited === 0 && sent < 4000) {
            sent++
            try {
              await steady.status()
            } catch (e) {
              if ((e as wire.ProtocolError).status === wire.Status.RATE_LIMITED) rateLimited++
              else throw e
            }
          }
        }),
      )
      expect(rateLimited).toBeGreaterThan(0)
      steady.close()
      // Meanwhile another peer gets answers.
      expect((await other.status()).chainId).toBe(files.genesis.chainId)
    } finally {
      other.close()
      await flooder.stop()
    }
  })
})

describe('retention and restarts', () => {
  it('state older than the retention window is answered as unknown', async () => {
    const genesisRoot = genesisStateRoot(files.genesis)
    await producer.waitHead(RETAIN * 2 + 1, 30_000)
    const s = await peer.status()
    expect(s.oldestStateNumber).toBe(s.headNumber - RETAIN + 1)
    await expect(
      peer.proof({ stateRoot: genesisRoot, address: new Uint8Array(20), slots: [] }),
    ).rejects.toMatchObject({
      status: wire.Status.UNAVAILABLE,
    })
    const [old] = await peer.nodes([genesisRoot])
    expect(old!.length).toBe(0)
    // The current state is still complete.
    expect((await peer.nodes([s.headStateRoot]))[0]!.length).toBeGreaterThan(0)
  })

  it('a follower killed with SIGKILL resumes from its stored head and catches up', async () => {
    const f = followers[0]!
    const before = f.heads.at(-1)!.number
    await stopNode(f, 'SIGKILL')
    const restarted = await startNode('follower-1b', f.dataDir, [
      '--follow',
      producer.ws,
      '--retain',
      String(RETAIN),
    ])
    expect(restarted.ready.head.number).toBeGreaterThanOrEqual(before)
    const target = producer.heads.at(-1)!.number + 1
    const h = await restarted.waitHead(target, 15_000)
    expect(h.stateRoot).toBe((await producer.waitHead(target)).stateRoot)
    expect(fromHex(h.stateRoot).length).toBe(32)
  })
})
