/**
 * The provider test's page: the light client (its worker at /worker.js, the devnet's
 * /bootstrap.json), the EIP-1193 provider announced by EIP-6963, and a "dApp" that discovers it and
 * reads through viem's `custom()` transport and ethers' `BrowserProvider`. The test drives it through
 * `window.__rt`; values go back as strings (bigints do not cross `page.evaluate`).
 */
import { BrowserProvider } from 'ethers'
import { createPublicClient, custom, type Hex } from 'viem'
import { createLightClient } from '../../src/client/light-client.ts'
import {
  createEip1193Provider,
  type RequestArguments,
  type RootsyncProvider,
} from '../../src/provider/eip1193.ts'
import { announceProvider, type ProviderInfo } from '../../src/provider/eip6963.ts'

interface Detail {
  info: ProviderInfo
  provider: RootsyncProvider
}

/** What a dApp does: listen for announcements, ask, and pick rootsync's by its rdns. */
function discover(): Detail[] {
  const found: Detail[] = []
  const l = (e: Event) => found.push((e as CustomEvent<Detail>).detail)
  window.addEventListener('eip6963:announceProvider', l)
  window.dispatchEvent(new Event('eip6963:requestProvider'))
  window.removeEventListener('eip6963:announceProvider', l)
  return found
}

const client = createLightClient({ bootstrap: '/bootstrap.json', workerUrl: '/worker.js', sharing: 'off' })
const provider = createEip1193Provider(client)
const connected = new Promise<{ chainId: string }>((resolve) => provider.on('connect', resolve as never))
announceProvider(provider)

/** The discovered provider, counting each request a library makes through it. */
function counted(): { provider: RootsyncProvider; asked: string[] } {
  const d = discover().find((x) => x.info.rdns === 'org.rootsync')
  if (!d) throw new Error('rootsync was not discovered')
  const asked: string[] = []
  return {
    asked,
    provider: {
      ...d.provider,
      request: (a: RequestArguments) => {
        asked.push(a.method)
        return d.provider.request(a)
      },
    },
  }
}

const rt = {
  connected: () => connected,
  discovered: () => discover().map((d) => ({ ...d.info, same: d.provider === provider })),
  /** Every read through viem at one block (the head when asked). */
  async viem(account: Hex, contract: Hex, slot: Hex) {
    const viem = createPublicClient({ transport: custom(counted().provider) })
    const blockNumber = await viem.getBlockNumber({ cacheTime: 0 })
    const at = { blockNumber }
    const [balance, nonce, storage, code, block] = await Promise.all([
      viem.getBalance({ address: account, ...at }),
      viem.getTransactionCount({ address: account, ...at }),
      viem.getStorageAt({ address: contract, slot, ...at }),
      viem.getCode({ address: contract, ...at }),
      viem.getBlock(at),
    ])
    const proof = await viem.getProof({ address: contract, storageKeys: [slot], ...at })
    return {
      blockNumber: String(blockNumber),
      stateRoot: block.stateRoot,
      balance: String(balance),
      nonce,
      storage,
      code,
      proof: {
        ...proof,
        balance: String(proof.balance),
        storageProof: proof.storageProof.map((s) => ({ ...s, value: String(s.value) })),
      },
    }
  },
  block: (n: string) => provider.request({ method: 'eth_getBlockByNumber', params: [n, false] }),
  /** eth_getProof's raw JSON and the block it was asked at. */
  async rawProof(address: string, keys: string[]) {
    const block = (await provider.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })) as {
      number: string
      stateRoot: string
    }
    const proof = await provider.request({ method: 'eth_getProof', params: [address, keys, block.number] })
    return { block, proof }
  },
  /** An unsupported method through viem: the error's code and the requests viem made. */
  async unsupported() {
    const { provider: p, asked } = counted()
    const viem = createPublicClient({ transport: custom(p) })
    const e = (await viem.getGasPrice().catch((x: unknown) => x)) as { code?: number }
    return { code: e.code, asked }
  },
  async ethersBalance(address: string) {
    const ethers = new BrowserProvider(counted().provider)
    try {
      const blockNumber = await ethers.getBlockNumber()
      return { blockNumber, balance: String(await ethers.getBalance(address, blockNumber)) }
    } finally {
      ethers.destroy()
    }
  },
}
;(window as unknown as { __rt: typeof rt }).__rt = rt
client.start().catch((e: Error) => {
  ;(window as unknown as { __error: string }).__error = `${e.name}: ${e.message}`
})
