/**
 * The WebRTC bridge in real headless Chromium against real `rootsync serve` processes: the page dials
 * them over WebRTC-direct (src/page/webrtc-bridge.ts) and relays a worker's requests; the worker
 * (test/browser/webrtc-bridge.worker.ts) has no libp2p node for these peers, so everything it gets
 * came over the page's WebRTC connections, through `BridgedPeer`.
 */
import type { Server } from 'node:http'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { makeDevnetFiles, type NodeProc, startNode, stopAllNodes, stopNode } from '../helpers/nodes.ts'
import { buildBridgePage, serveBridgePage } from './webrtc-bridge.harness.ts'
import type { Cmd } from './webrtc-bridge.worker.ts'

const TIMEOUT_MS = 4000

let a: NodeProc
let b: NodeProc
let genesisHash: string
let genesisRoot: string
/** Accounts in the genesis state (every leaf of its account trie). */
let accounts: number
let server: Server
let browser: BrowserContext
let page: Page
const pageErrors: string[] = []

interface Reply {
  ok: boolean
  value?: Record<string, unknown>
  error?: { name: string; reason?: string; message: string }
}

const cmd = (c: Cmd): Promise<Reply> =>
  page.evaluate((c) => (window as unknown as { __rt: { cmd(c: unknown): Promise<Reply> } }).__rt.cmd(c), c)

beforeAll(async () => {
  const files = makeDevnetFiles({ accounts: 3000, contracts: 20, slots: 10 })
  const [na, nb] = await Promise.all(
    ['node-a', 'node-b'].map((n) => startNode(n, join(files.dir, n), ['--genesis', files.genesisFile])),
  )
  a = na!
  b = nb!
  const root = genesisStateRoot(files.genesis)
  accounts = files.genesis.alloc.length
  genesisRoot = toHex(root)
  genesisHash = toHex(headerHash(genesisHeader(files.genesis, root)))
  const { dir } = await buildBridgePage()
  const peers = [a, b].map((n) => ({ name: n.name, peerId: n.ready.peerId, addrs: n.ready.addrs }))
  let url: string
  ;({ url, server } = await serveBridgePage(dir, { peers, timeoutMs: TIMEOUT_MS, wasm: false }))
  browser = await launchBrowser()
  page = await browser.newPage()
  page.on('pageerror', (e) => pageErrors.push(e.message))
  await page.goto(url)
  await page.waitForFunction(() => {
    const w = window as unknown as { __ready?: boolean; __error?: string }
    return w.__ready || w.__error
  })
  const err = await page.evaluate(() => (window as unknown as { __error?: string }).__error)
  expect(err).toBeUndefined()
}, 180_000)

afterAll(async () => {
  await browser?.close()
  server?.close()
  await stopAllNodes()
})

describe('WebRTC bridge (page ↔ worker) in Chromium', () => {
  it('serving nodes advertise a WebRTC-direct address with a certificate hash', () => {
    for (const n of [a, b])
      expect(n.ready.addrs.some((x) => /\/webrtc-direct\/certhash\/u/.test(x))).toBe(true)
  })

  it('connects each peer over WebRTC-direct and hands the worker a port for it', async () => {
    const events = await page.evaluate(
      () => (window as unknown as { __rt: { events: unknown[] } }).__rt.events,
    )
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ peerId: a.ready.peerId, type: 'connected' }),
        expect.objectContaining({ peerId: b.ready.peerId, type: 'connected' }),
      ]),
    )
    const peers = await cmd({ op: 'peers' })
    expect((peers.value!.bridged as string[]).sort()).toEqual([a.ready.peerId, b.ready.peerId].sort())
  })

  it('the worker gets status, headers and state nodes through the bridge; every node hashes to what was asked', async () => {
    const status = await cmd({ op: 'status', peerId: a.ready.peerId })
    expect(status.error).toBeUndefined()
    expect(status.value).toMatchObject({
      chainId: 1337,
      genesisHash,
      headNumber: 0,
      headStateRoot: genesisRoot,
    })

    const headers = await cmd({ op: 'headers', peerId: a.ready.peerId, start: 0, count: 1 })
    expect(headers.value).toEqual([
      expect.objectContaining({ number: 0, hash: genesisHash, stateRoot: genesisRoot }),
    ])

    const walk = await cmd({ op: 'walk', peerId: a.ready.peerId, root: genesisRoot, max: 3000 })
    expect(walk.error).toBeUndefined()
    expect(walk.value!.got as number).toBeGreaterThanOrEqual(3000)
    expect(walk.value).toMatchObject({ mismatches: 0, empty: 0 })
    expect(walk.value!.asked).toBe(walk.value!.got)

    // A whole sync, from both peers over the bridge only, verified by the engine against the root.
    const sync = await cmd({
      op: 'sync',
      via: 'bridge',
      peers: [a.ready.peerId, b.ready.peerId],
      root: genesisRoot,
      store: 'memory',
    })
    expect(sync.error).toBeUndefined()
    expect(sync.value!.root).toBe(genesisRoot)
    expect(sync.value!.nodes as number).toBeGreaterThan(3000)

    const stats = (await page.evaluate(() =>
      (window as unknown as { __rt: { stats(): unknown } }).__rt.stats(),
    )) as { peerId: string; replies: number; errors: number }[]
    const sa = stats.find((s) => s.peerId === a.ready.peerId)!
    expect(sa.replies).toBeGreaterThan(10)
    expect(sa.errors).toBe(0)
  }, 120_000)

  it('the range protocol is relayed too: chained account ranges verify; an unknown root is UNAVAILABLE', async () => {
    const ranges = await cmd({ op: 'ranges', peerId: a.ready.peerId, root: genesisRoot, maxBytes: 32 * 1024 })
    expect(ranges.error).toBeUndefined()
    expect(ranges.value!.leaves).toBe(accounts)
    expect(ranges.value!.replies as number).toBeGreaterThan(1)
    const unknownRoot = toHex(new Uint8Array(32).fill(7))
    const refused = await cmd({ op: 'ranges', peerId: a.ready.peerId, root: unknownRoot, maxBytes: 1024 })
    expect(refused.error).toMatchObject({ code: 'PROTOCOL_UNAVAILABLE' })
  }, 60_000)

  it('a cancelled request rejects as aborted, is aborted on the page too, and the peer stays usable', async () => {
    type S = { peerId: string; requests: number; replies: number; errors: number; cancelled: number }
    const statsOfA = async () =>
      (
        (await page.evaluate(() => (window as unknown as { __rt: { stats(): unknown } }).__rt.stats())) as S[]
      ).find((x) => x.peerId === a.ready.peerId)!
    const before = await statsOfA()
    // The cancel races the reply: a status answer can reach the page before the cancel message does
    // (seen once in CI under load), and then the page has nothing left to abort. So several requests
    // are cancelled; each must end on the page as either aborted or already answered, none left in
    // flight, and at least one cancel must have reached the page while its request was open.
    const times = 8
    const r = await cmd({ op: 'cancel', peerId: a.ready.peerId, times })
    expect(r.error).toBeUndefined()
    expect(r.value!.outcomes).toEqual(
      Array.from({ length: times }, () =>
        expect.objectContaining({ name: 'PeerRequestError', reason: 'aborted' }),
      ),
    )
    expect(r.value!.afterHead).toBe(0)
    await expect
      .poll(
        async () => {
          const s = await statsOfA()
          const settled =
            s.cancelled - before.cancelled + (s.replies - before.replies) + (s.errors - before.errors)
          return { requests: s.requests - before.requests, settled, errors: s.errors - before.errors }
        },
        { timeout: 10_000 },
      )
      .toEqual({ requests: times + 1, settled: times + 1, errors: 0 })
    expect((await statsOfA()).cancelled - before.cancelled).toBeGreaterThanOrEqual(1)
  })

  it('requests to a peer that gets SIGKILLed fail typed within the timeout (no hang); the other peer still serves', async () => {
    const id = await page.evaluate(
      (p) =>
        (window as unknown as { __rt: { start(c: unknown): number } }).__rt.start({ op: 'loop', peerId: p }),
      b.ready.peerId,
    )
    // Requests are flowing to B…
    await expect
      .poll(() =>
        page.evaluate(
          (id) => (window as unknown as { __rt: { progress: Record<number, unknown[]> } }).__rt.progress[id],
          id,
        ),
      )
      .toEqual(['looping'])
    // …when it dies.
    await stopNode(b, 'SIGKILL')
    await expect
      .poll(
        () =>
          page.evaluate(
            (id) => (window as unknown as { __rt: { result(id: number): unknown } }).__rt.result(id),
            id,
          ),
        { timeout: TIMEOUT_MS + 15_000 },
      )
      .toBeTruthy()
    const r = (await page.evaluate(
      (id) => (window as unknown as { __rt: { result(id: number): unknown } }).__rt.result(id),
      id,
    )) as Reply
    expect(r.ok).toBe(true) // the loop ended with the request's error as its value
    expect(r.value).toMatchObject({ name: 'PeerRequestError' })
    expect(['timeout', 'stream']).toContain(r.value!.reason)
    // The failing request was bounded by the worker's timeout.
    expect(r.value!.ms as number).toBeLessThan(TIMEOUT_MS + 2000)

    const status = await cmd({ op: 'status', peerId: a.ready.peerId })
    expect(status.value).toMatchObject({ genesisHash })
  }, 60_000)

  it('the worker hears peer-closed when the dead peer’s WebRTC connection drops, and no page errors', async () => {
    await expect
      .poll(async () => (await cmd({ op: 'peers' })).value!.closed, { timeout: 60_000, interval: 1000 })
      .toEqual([b.ready.peerId])
    const events = await page.evaluate(
      () => (window as unknown as { __rt: { events: unknown[] } }).__rt.events,
    )
    expect(events).toEqual(
      expect.arrayContaining([expect.objectContaining({ peerId: b.ready.peerId, type: 'closed' })]),
    )
    expect(pageErrors).toEqual([])
  }, 70_000)
})
