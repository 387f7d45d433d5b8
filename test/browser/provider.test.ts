/**
 * The EIP-1193 provider in real headless Chromium over the real light client (its worker syncing
 * from a real serving node on a devnet): a page discovers it by EIP-6963 and reads through viem's
 * `custom()` transport and ethers' `BrowserProvider`. Expected values come from the devnet's genesis
 * files, compared at the block the provider answered at (whose state root must be the genesis root:
 * the devnet produces no blocks, and the test checks rather than assumes it). The eth_getProof result
 * is verified in Node by an independent verifier (@ethereumjs/mpt) against eth_getBlockByNumber's
 * stateRoot.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { verifyMerkleProof } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bytesToBigint, fromHex, toHex } from '../../src/core/bytes.ts'
import { type AppFixture, startAppFixture } from '../helpers/app.ts'
import { ROOT } from '../helpers/cli.ts'

let app: AppFixture
let server: Server
let page: Page
const pageErrors: string[] = []
/** An externally owned account, a contract with code and storage, one of its slots, and an absent account. */
let eoa: { address: string; balance: bigint; nonce: bigint }
let contract: { address: string; code: string; slot: string; value: bigint }
const ABSENT = `0x${'ab'.repeat(20)}`

type Rt = Record<string, (...a: never[]) => Promise<unknown> | unknown>
const rt = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(
    ([fn, args]) => (window as unknown as { __rt: Rt }).__rt[fn as string]!(...(args as never[])),
    [fn, args] as const,
  ) as Promise<T>

/** The page and the sync worker, bundled by esbuild, served with the devnet's bootstrap.json. */
async function servePage(bootstrapFile: string): Promise<Server> {
  const out = await build({
    entryPoints: {
      page: join(ROOT, 'test/browser/provider.page.ts'),
      worker: join(ROOT, 'src/worker/sync-worker.ts'),
    },
    outdir: '/',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
  })
  const files = new Map(out.outputFiles.map((f) => [f.path, f.text]))
  const s = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const js = files.get(path)
    if (js) res.writeHead(200, { 'content-type': 'text/javascript' }).end(js)
    else if (path === '/bootstrap.json')
      res.writeHead(200, { 'content-type': 'application/json' }).end(readFileSync(bootstrapFile))
    else if (path === '/')
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><script type="module" src="/page.js"></script>')
    else res.writeHead(404).end()
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  return s
}

beforeAll(async () => {
  app = await startAppFixture({ accounts: 200, contracts: 3, slots: 3, seed: 'provider' })
  const alloc = app.files.genesis.alloc
  const [ea, e] =
    alloc.find(([, a]) => a.balance > 0n && a.nonce > 0n && !a.code.length) ??
    alloc.find(([, a]) => a.balance > 0n && !a.code.length)!
  eoa = { address: toHex(ea), balance: e.balance, nonce: e.nonce }
  const [ca, c] = alloc.find(([, a]) => a.code.length > 0 && a.storage.length > 0)!
  const [slot, value] = c.storage[0]!
  contract = { address: toHex(ca), code: toHex(c.code), slot: toHex(slot), value }
  server = await servePage(join(app.files.dir, 'bootstrap.json'))
  page = await app.browser.newPage()
  page.on('pageerror', (err) => pageErrors.push(err.message))
  await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`)
  await page.waitForFunction(() => {
    const w = window as unknown as { __rt?: unknown; __error?: string }
    return w.__rt || w.__error
  })
  expect(await page.evaluate(() => (window as unknown as { __error?: string }).__error)).toBeUndefined()
  expect(await rt<{ chainId: string }>('connected')).toEqual({ chainId: '0x539' })
}, 180_000)

afterAll(async () => {
  server?.close()
  await app?.stop()
})

describe('EIP-1193 provider in Chromium', () => {
  it('is discovered by EIP-6963 as rootsync', async () => {
    const found =
      await rt<{ name: string; rdns: string; icon: string; uuid: string; same: boolean }[]>('discovered')
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ name: 'rootsync', rdns: 'org.rootsync', same: true })
    expect(found[0]!.icon).toMatch(/^data:image\/svg\+xml,/)
  })

  it("answers viem's reads with the devnet's values at the block it answered at", async () => {
    const r = await rt<{
      blockNumber: string
      stateRoot: string
      balance: string
      nonce: number
      storage: string
      code: string
      proof: {
        address: string
        nonce: number
        balance: string
        storageProof: { key: string; value: string }[]
      }
    }>('viem', eoa.address, contract.address, contract.slot)
    // The block viem read at holds the genesis state: the genesis files are the expected values.
    expect(r.stateRoot).toBe(app.genesisRoot)
    expect(r.balance).toBe(String(eoa.balance))
    expect(r.nonce).toBe(Number(eoa.nonce))
    expect(r.storage).toBe(`0x${contract.value.toString(16).padStart(64, '0')}`)
    expect(r.code).toBe(contract.code)
    expect(r.proof.address).toBe(contract.address)
    expect(r.proof.storageProof).toMatchObject([{ key: contract.slot, value: String(contract.value) }])
    expect(pageErrors).toEqual([])
  })

  it("eth_getProof verifies against eth_getBlockByNumber's stateRoot with @ethereumjs/mpt, absent account and slot included", async () => {
    const absentSlot = `0x${'77'.repeat(32)}`
    const { block, proof } = await rt<{
      block: { number: string; stateRoot: string }
      proof: {
        accountProof: string[]
        balance: string
        nonce: string
        codeHash: string
        storageHash: string
        storageProof: { key: string; value: string; proof: string[] }[]
      }
    }>('rawProof', contract.address, [contract.slot, absentSlot])
    expect(block.stateRoot).toBe(app.genesisRoot)
    const root = fromHex(block.stateRoot)
    const nodes = (p: string[]) => p.map((n) => fromHex(n))
    const leaf = await verifyMerkleProof(fromHex(contract.address), nodes(proof.accountProof), {
      root,
      useKeyHashing: true,
    })
    const [nonce, balance, storageRoot, codeHash] = RLP.decode(leaf!) as Uint8Array[]
    expect(bytesToBigint(nonce!)).toBe(BigInt(proof.nonce))
    expect(bytesToBigint(balance!)).toBe(BigInt(proof.balance))
    expect(toHex(storageRoot!)).toBe(proof.storageHash)
    expect(toHex(codeHash!)).toBe(proof.codeHash)
    const [present, absent] = proof.storageProof
    const slotValue = await verifyMerkleProof(fromHex(contract.slot), nodes(present!.proof), {
      root: storageRoot!,
      useKeyHashing: true,
    })
    expect(bytesToBigint(RLP.decode(slotValue!) as Uint8Array)).toBe(contract.value)
    expect(BigInt(present!.value)).toBe(contract.value)
    expect(
      await verifyMerkleProof(fromHex(absentSlot), nodes(absent!.proof), {
        root: storageRoot!,
        useKeyHashing: true,
      }),
    ).toBeNull()
    expect(absent!.value).toBe('0x0')
    // The same proof does not verify against another root.
    await expect(
      verifyMerkleProof(fromHex(contract.address), nodes(proof.accountProof), {
        root: fromHex(`0x${'11'.repeat(32)}`),
        useKeyHashing: true,
      }),
    ).rejects.toThrow()

    const none = await rt<{
      block: { stateRoot: string }
      proof: { accountProof: string[]; balance: string }
    }>('rawProof', ABSENT, [])
    expect(none.proof.balance).toBe('0x0')
    expect(
      await verifyMerkleProof(fromHex(ABSENT), nodes(none.proof.accountProof), {
        root: fromHex(none.block.stateRoot),
        useKeyHashing: true,
      }),
    ).toBeNull()
  })

  it('refuses an unsupported method with 4200, and viem asks it once', async () => {
    expect(await rt('unsupported')).toEqual({ code: 4200, asked: ['eth_gasPrice'] })
  })

  it("answers ethers' BrowserProvider with the devnet's balance", async () => {
    const r = await rt<{ blockNumber: number; balance: string }>('ethersBalance', eoa.address)
    // Asked at a block whose state is the genesis state (the devnet produced none since).
    const block = await rt<{ stateRoot: string }>('block', `0x${r.blockNumber.toString(16)}`)
    expect(block.stateRoot).toBe(app.genesisRoot)
    expect(r.balance).toBe(String(eoa.balance))
    expect(pageErrors).toEqual([])
  })
})
