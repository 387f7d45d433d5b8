/**
 * The embeddable light client (`createLightClient`) in real headless Chromium against a real,
 * producing devnet node: the bootstrap fetched by URL, the sync worker bundled beside the page.
 * EIP-1186 proofs are verified again in Node by an independent verifier (@ethereumjs/mpt) against
 * the state root of the header `getBlock` returns; code equals the genesis file's; an older header
 * equals the serving node's; malformed input and unavailable blocks reject with their codes.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { verifyMerkleProof } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlockHeaderAnswer, CodeAnswer, ProofAnswer } from '../../src/api/worker-protocol.ts'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import type { GenesisJson } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { type AppFixture, nodeClient, producing, startAppFixture } from '../helpers/app.ts'
import { bundleEntry } from '../store/page-server.ts'

let app: AppFixture
let server: Server
let page: Page
let node: Awaited<ReturnType<typeof nodeClient>>
let genesis: GenesisJson
const ABSENT = `0x${'de'.repeat(20)}`

type Result<T> = { ok: T } | { error: { name: string; code?: string; message: string } }
const call = <T>(method: string, ...args: unknown[]): Promise<Result<T>> =>
  page.evaluate(
    ([m, a]) => (window as unknown as { __call(m: string, a: unknown[]): Promise<Result<T>> }).__call(m, a),
    [method, args] as const,
  )
async function ok<T>(method: string, ...args: unknown[]): Promise<T> {
  const r = await call<T>(method, ...args)
  if ('error' in r) throw new Error(`${method}: ${r.error.code} ${r.error.message}`)
  return r.ok
}
const codeOf = async (method: string, ...args: unknown[]) => {
  const r = await call(method, ...args)
  return 'error' in r ? r.error.code : 'resolved'
}

beforeAll(async () => {
  app = await startAppFixture({ accounts: 300, contracts: 6, slots: 4 }, producing(400, 3))
  genesis = JSON.parse(readFileSync(app.files.genesisFile, 'utf8'))
  // The page and the sync worker, each bundled by esbuild (the worker with its lazy imports inlined).
  const [pageJs, workerJs] = await Promise.all([
    bundleEntry('test/browser/light-client.page.ts'),
    bundleEntry('src/worker/sync-worker.ts'),
  ])
  const bootstrap = readFileSync(join(app.files.dir, 'bootstrap.json'))
  server = createServer((req, res) => {
    const js = (body: string) => res.writeHead(200, { 'content-type': 'text/javascript' }).end(body)
    if (req.url === '/page.js') return js(pageJs)
    if (req.url === '/worker.js') return js(workerJs)
    if (req.url === '/bootstrap.json')
      return res.writeHead(200, { 'content-type': 'application/json' }).end(bootstrap)
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>light client</title><script type="module" src="/page.js"></script>')
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  page = await app.browser.newPage()
  await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
  await page.waitForFunction(() => (window as unknown as { __ready?: boolean }).__ready)
  node = await nodeClient(app)
  await ok('start')
}, 240_000)

afterAll(async () => {
  await node?.close()
  server?.close()
  await app?.stop()
})

/** Contracts of the genesis file (accounts with code), with their storage. */
const contracts = () =>
  Object.entries(genesis.alloc)
    .filter(([, a]) => a.code && a.code !== '0x')
    .map(([address, a]) => ({ address: address.startsWith('0x') ? address : `0x${address}`, ...a }))

/** What the independent verifier proves from a ProofAnswer's hex nodes, under `root`. */
async function independently(p: ProofAnswer, root: string) {
  const raw = await verifyMerkleProof(
    fromHex(p.address),
    p.accountProof.map((x) => fromHex(x)),
    {
      root: fromHex(root),
      useKeyHashing: true,
    },
  )
  if (!raw) return { account: null, storage: [] }
  const [nonce, balance, storageRoot, codeHash] = RLP.decode(raw) as Uint8Array[]
  const big = (b: Uint8Array) => BigInt(b.length ? toHex(b) : 0)
  const storage = await Promise.all(
    p.storage.map(async (s) => {
      const v = await verifyMerkleProof(
        fromHex(s.key),
        s.proof.map((x) => fromHex(x)),
        {
          root: storageRoot!,
          useKeyHashing: true,
        },
      )
      return v ? big(RLP.decode(v) as Uint8Array) : 0n
    }),
  )
  return {
    account: {
      nonce: big(nonce!).toString(),
      balance: big(balance!).toString(),
      storageRoot: toHex(storageRoot!),
      codeHash: toHex(codeHash!),
    },
    storage,
  }
}

describe('createLightClient in Chromium', () => {
  it('waitSynced resolves with the verified head; an aborted one rejects', async () => {
    const head = await ok<{ number: number; hash: string }>('waitSynced')
    expect(head.hash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await page.evaluate(() => (window as unknown as { __head(): unknown }).__head())).not.toBeNull()
    const aborted = await page.evaluate(() =>
      (window as unknown as { __waitAborted(): Promise<Result<unknown>> }).__waitAborted(),
    )
    expect(aborted).toMatchObject({ error: { name: 'ReadError', code: 'READ_CANCELLED' } })
    expect(await page.evaluate(() => (window as unknown as { __role(): string }).__role())).toBe('dedicated')
  })

  it('getProof of a contract with slots (one absent) and of an absent account verifies independently', async () => {
    const c = contracts()[0]!
    const slots = [...Object.keys(c.storage ?? {}).slice(0, 2), `0x${'77'.repeat(32)}`]
    const p = await ok<ProofAnswer>('getProof', c.address, slots)
    const block = await ok<BlockHeaderAnswer>('getBlock', p.header.number)
    expect(block.stateRoot).toBe(p.header.stateRoot)
    const mine = await independently(p, block.stateRoot)
    expect(mine.account).toEqual(p.account)
    expect(mine.storage.map((v) => `0x${v.toString(16).padStart(64, '0')}`)).toEqual(
      p.storage.map((s) => s.value),
    )
    expect(mine.storage[2]).toBe(0n)
    // The devnet's own values at that root, from the serving node.
    const theirs = await node.peer.proof({
      stateRoot: fromHex(block.stateRoot),
      address: fromHex(c.address),
      slots: slots.map((s) => fromHex(s)),
    })
    expect(theirs.storageProof.map((s) => s.value)).toEqual(mine.storage)
    expect(p.account?.balance).toBe(theirs.balance.toString())

    const absent = await ok<ProofAnswer>('getProof', ABSENT, ['0x0'])
    expect(absent.account).toBeNull()
    const check = await independently(
      absent,
      (await ok<BlockHeaderAnswer>('getBlock', absent.header.number)).stateRoot,
    )
    expect(check.account).toBeNull()
    expect(absent.storage).toEqual([
      { key: `0x${'00'.repeat(32)}`, value: `0x${'00'.repeat(32)}`, proof: [] },
    ])
  })

  it("getCode equals the genesis file's code; an account without code and an absent one have 0x", async () => {
    for (const c of contracts().slice(0, 3)) {
      const a = await ok<CodeAnswer>('getCode', c.address)
      expect(a.code).toBe(c.code!.toLowerCase())
    }
    const eoa = Object.entries(genesis.alloc).find(([, a]) => !a.code || a.code === '0x')![0]
    expect((await ok<CodeAnswer>('getCode', eoa.startsWith('0x') ? eoa : `0x${eoa}`)).code).toBe('0x')
    expect((await ok<CodeAnswer>('getCode', ABSENT)).code).toBe('0x')
  })

  it("getBlock of a past height equals the serving node's header, by height and by hash; reads at it", async () => {
    await expect
      .poll(async () => (await ok<BlockHeaderAnswer>('getBlock', 'latest')).number, { timeout: 60_000 })
      .toBeGreaterThanOrEqual(4)
    const head = await ok<BlockHeaderAnswer>('getBlock', 'latest')
    expect(head.verifiedBy).toBe('head')
    const n = head.number - 3
    const past = await ok<BlockHeaderAnswer>('getBlock', n)
    const [theirs] = await node.peer.headers(n, 1)
    const h = theirs!.header
    expect(past).toEqual({
      number: n,
      hash: toHex(headerHash(h)),
      parentHash: toHex(h.parentHash),
      stateRoot: toHex(h.stateRoot),
      transactionsRoot: toHex(h.txRoot),
      timestamp: h.timestamp,
      validatorsHash: toHex(h.validatorsHash),
      nextValidatorsHash: toHex(h.nextValidatorsHash),
      extraData: toHex(h.extra),
      verifiedBy: 'parent-hashes',
    })
    expect(await ok<BlockHeaderAnswer>('getBlock', past.hash)).toEqual(past)
    // A read at that height is proven against its state root (from a peer: the local state is the head's).
    const c = contracts()[1]!
    const slot = Object.keys(c.storage ?? {})[0]!
    const s = await ok<{ value: string; header: { number: number; stateRoot: string } }>(
      'getStorage',
      c.address,
      slot,
      { block: n },
    )
    expect(s.header).toMatchObject({ number: n, stateRoot: past.stateRoot })
    const at = await node.peer.proof({
      stateRoot: fromHex(past.stateRoot),
      address: fromHex(c.address),
      slots: [fromHex(slot)],
    })
    expect(BigInt(s.value)).toBe(at.storageProof[0]!.value)
  })

  it('rejects malformed input with INPUT_INVALID and blocks it cannot verify with BLOCK_UNAVAILABLE', async () => {
    expect(await codeOf('getAccount', '0x1234')).toBe('INPUT_INVALID')
    expect(await codeOf('getStorage', ABSENT, '0xzz')).toBe('INPUT_INVALID')
    expect(await codeOf('getProof', ABSENT, ['0x1'.padEnd(70, '0')])).toBe('INPUT_INVALID')
    expect(await codeOf('getBlock', -1)).toBe('INPUT_INVALID')
    expect(await codeOf('getAccount', ABSENT, { block: 1.5 })).toBe('INPUT_INVALID')
    const head = await ok<BlockHeaderAnswer>('getBlock', 'latest')
    expect(await codeOf('getBlock', head.number + 100_000)).toBe('BLOCK_UNAVAILABLE')
    expect(await codeOf('getCode', ABSENT, { block: head.number + 100_000 })).toBe('BLOCK_UNAVAILABLE')
    expect(await codeOf('getBlock', `0x${'ab'.repeat(32)}`)).toBe('BLOCK_UNAVAILABLE')
  })
})
