/**
 * The provider unmodified under the libraries dApps use — viem's `custom()` transport and ethers'
 * `BrowserProvider` — over an in-memory LightClient: their formatters accept its answers (block
 * objects with neutral fields included), and viem asks an unsupported method exactly once.
 */
import { BrowserProvider } from 'ethers'
import { createPublicClient, custom } from 'viem'
import { afterEach, describe, expect, it } from 'vitest'
import { createEip1193Provider, type RequestArguments } from '../../src/provider/eip1193.ts'
import { header, startedClient } from './fake-light-client.ts'

const ALICE = '0x00000000000000000000000000000000000a11ce'
const TOKEN = '0x000000000000000000000000000000000000c0de'

function setup() {
  const client = startedClient(
    {
      [ALICE]: { balance: 123456789n, nonce: 3 },
      [TOKEN]: {
        nonce: 1,
        code: '0x60806040',
        codeHash: `0x${'ab'.repeat(32)}`,
        storageRoot: `0x${'cd'.repeat(32)}`,
        storage: { [`0x${'00'.repeat(31)}02`]: `0x${'00'.repeat(31)}2a` },
      },
    },
    12,
  )
  const provider = createEip1193Provider(client)
  const asked: string[] = []
  /** The same provider, counting the requests a library makes. */
  const counted = {
    ...provider,
    request: (a: RequestArguments) => {
      asked.push(a.method)
      return provider.request(a)
    },
  }
  return { client, provider, counted, asked }
}

describe('viem custom() transport', () => {
  it('reads balances, nonces, storage, code, the block number, blocks and proofs', async () => {
    const { counted } = setup()
    const viem = createPublicClient({ transport: custom(counted) })
    expect(await viem.getBalance({ address: ALICE })).toBe(123456789n)
    expect(await viem.getTransactionCount({ address: ALICE, blockNumber: 4n })).toBe(3)
    expect(await viem.getStorageAt({ address: TOKEN, slot: '0x2' })).toBe(`0x${'00'.repeat(31)}2a`)
    expect(await viem.getCode({ address: TOKEN })).toBe('0x60806040')
    expect(await viem.getBlockNumber({ cacheTime: 0 })).toBe(12n)
    const block = await viem.getBlock({ blockNumber: 7n })
    expect(block).toMatchObject({
      number: 7n,
      hash: header(7).hash,
      stateRoot: header(7).stateRoot,
      transactions: [],
    })
    expect(block.timestamp).toBe(BigInt(header(7).timestamp))
    expect((await viem.getBlock({ blockTag: 'finalized', includeTransactions: true })).number).toBe(12n)
    const proof = await viem.getProof({ address: TOKEN, storageKeys: [`0x${'00'.repeat(31)}02`] })
    expect(proof).toMatchObject({ nonce: 1, balance: 0n, storageHash: `0x${'cd'.repeat(32)}` })
    expect(proof.storageProof[0]!.value).toBe(42n)
  })

  it('asks an unsupported method once (4200 is not retried)', async () => {
    const { counted, asked } = setup()
    const viem = createPublicClient({ transport: custom(counted) })
    const e = await viem.request({ method: 'eth_gasPrice' } as never).catch((x: unknown) => x)
    expect(e).toMatchObject({ code: 4200 })
    expect(asked).toEqual(['eth_gasPrice'])
  })

  it('finds no block above the verified head, asking once', async () => {
    const { counted, asked } = setup()
    const viem = createPublicClient({ transport: custom(counted) })
    await expect(viem.getBlock({ blockNumber: 13n })).rejects.toMatchObject({ name: 'BlockNotFoundError' })
    expect(asked).toEqual(['eth_getBlockByNumber'])
  })
})

describe('ethers BrowserProvider', () => {
  let destroy = () => {}
  afterEach(() => destroy())

  it('detects the network and reads balances, nonces, storage, code and blocks', async () => {
    const { counted } = setup()
    const ethers = new BrowserProvider(counted)
    destroy = () => ethers.destroy()
    expect((await ethers.getNetwork()).chainId).toBe(1337n)
    expect(await ethers.getBalance(ALICE)).toBe(123456789n)
    expect(await ethers.getTransactionCount(ALICE, 5)).toBe(3)
    expect(await ethers.getStorage(TOKEN, 2n)).toBe(`0x${'00'.repeat(31)}2a`)
    expect(await ethers.getCode(TOKEN)).toBe('0x60806040')
    expect(await ethers.getBlockNumber()).toBe(12)
    const block = await ethers.getBlock(9)
    expect(block).toMatchObject({ number: 9, hash: header(9).hash, stateRoot: header(9).stateRoot })
    expect(block?.timestamp).toBe(header(9).timestamp)
  })
})
