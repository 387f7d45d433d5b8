/**
 * An in-memory LightClient for the provider's unit tests: a chain of headers, a few accounts with
 * code and storage, events pushed by the test, and failures injected per method. It records every
 * read with the block it was asked at, so tests can check what the provider asked for.
 */
import type {
  AccountAnswer,
  BlockHeaderAnswer,
  BlockTag,
  CodeAnswer,
  HeaderView,
  ProofAnswer,
  StorageAnswer,
} from '../../src/api/worker-protocol.ts'
import { ReadError } from '../../src/client/errors.ts'
import type { ClientEvent, LightClient } from '../../src/client/light-client.ts'

export interface FakeAccount {
  balance: bigint
  nonce: number
  code: string
  codeHash: string
  storageRoot: string
  storage: Record<string, string>
}

export const hash = (n: number, salt = 'a') => `0x${salt.repeat(2)}${n.toString(16).padStart(62, '0')}`

export function header(n: number, salt = 'a'): BlockHeaderAnswer {
  return {
    number: n,
    hash: hash(n, salt),
    parentHash: n ? hash(n - 1, salt) : `0x${'00'.repeat(32)}`,
    stateRoot: hash(n, 'e'),
    transactionsRoot: hash(n, 'd'),
    timestamp: 1_700_000_000 + n,
    validatorsHash: hash(1, 'c'),
    nextValidatorsHash: hash(1, 'c'),
    extraData: '0x',
    verifiedBy: 'head',
  }
}

const view = (h: BlockHeaderAnswer): HeaderView => ({
  number: h.number,
  hash: h.hash,
  stateRoot: h.stateRoot,
})

type Method = 'getAccount' | 'getStorage' | 'getProof' | 'getCode' | 'getBlock'

export interface FakeLightClient extends LightClient {
  /** Reads as asked: method, address (or block), and the `block` option. */
  calls: { method: Method; arg: string | number; block?: BlockTag }[]
  accounts: Map<string, FakeAccount>
  /** The next call of `method` rejects with ReadError(code). */
  failNext(method: Method, code: string, message?: string): void
  /** Configures the chain (as `start` would): chainId() answers it from now on. */
  configure(chainId: number | null): void
  /** A new verified head: stored, and announced by a `header` event. */
  advance(n: number): BlockHeaderAnswer
  emit(e: ClientEvent): void
  /** Headers by hash that getBlock pretends not to verify. */
  unverifiable: Set<string>
}

export function fakeLightClient(chainId: number | null = 1337): FakeLightClient {
  const listeners = new Set<(e: ClientEvent) => void>()
  const headers = new Map<number, BlockHeaderAnswer>()
  let configured = chainId
  let headNumber: number | null = null
  const failures = new Map<Method, ReadError>()
  const accounts = new Map<string, FakeAccount>()

  const at = (block: BlockTag | undefined): BlockHeaderAnswer => {
    const n = block === undefined || block === 'latest' ? headNumber : block
    const h = n === null ? undefined : headers.get(n)
    if (!h) throw new ReadError('BLOCK_UNAVAILABLE', `no verified header at ${String(block)}`)
    return h
  }
  async function call<T>(method: Method, arg: string | number, block: BlockTag | undefined, f: () => T) {
    fake.calls.push({ method, arg, ...(block === undefined ? {} : { block }) })
    const e = failures.get(method)
    failures.delete(method)
    if (e) throw e
    return f()
  }
  const account = (a: string) => accounts.get(a.toLowerCase()) ?? null
  const shape = (a: FakeAccount | null): AccountAnswer['account'] =>
    a && {
      balance: a.balance.toString(),
      nonce: String(a.nonce),
      codeHash: a.codeHash,
      storageRoot: a.storageRoot,
    }

  const fake: FakeLightClient = {
    calls: [],
    accounts,
    unverifiable: new Set(),
    failNext: (m, code, message = `${code} (fake)`) => failures.set(m, new ReadError(code, message)),
    configure: (id) => {
      configured = id
    },
    advance(n) {
      const h = header(n)
      headers.set(n, h)
      headNumber = n
      fake.emit({ type: 'header', header: view(h), fromStore: false, peersHead: n })
      return h
    },
    emit: (e) => {
      for (const l of listeners) l(e)
    },
    chainId: () => configured,
    head: () => (headNumber === null ? null : view(headers.get(headNumber)!)),
    role: 'dedicated',
    dbName: null,
    async start() {},
    async stop() {},
    subscribe(l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    getAccount: (address, o) =>
      call('getAccount', address, o?.block, () => {
        const h = at(o?.block)
        return { address, account: shape(account(address)), source: 'local', header: view(h), ms: 0 }
      }),
    getStorage: (address, slot, o) =>
      call('getStorage', address, o?.block, (): StorageAnswer => {
        const h = at(o?.block)
        const value = account(address)?.storage[slot] ?? `0x${'00'.repeat(32)}`
        return { address, slot, value, source: 'local', header: view(h), ms: 0 }
      }),
    getProof: (address, slots, o) =>
      call('getProof', address, o?.block, (): ProofAnswer => {
        const h = at(o?.block)
        const a = account(address)
        return {
          address,
          account: shape(a),
          accountProof: [`0xf8${address.slice(2, 10)}`],
          storage: slots.map((key) => ({
            key,
            value: a?.storage[key] ?? `0x${'00'.repeat(32)}`,
            proof: [`0xe2${key.slice(-8)}`],
          })),
          source: 'local',
          header: view(h),
          ms: 0,
        }
      }),
    getCode: (address, o) =>
      call('getCode', address, o?.block, (): CodeAnswer => {
        const h = at(o?.block)
        const a = account(address)
        return {
          address,
          code: a?.code ?? '0x',
          codeHash: a?.codeHash ?? '0x',
          source: 'local',
          header: view(h),
          ms: 0,
        }
      }),
    getBlock: (block) =>
      call('getBlock', block, undefined, () => {
        if (typeof block === 'string' && block !== 'latest') {
          const h = [...headers.values()].find((x) => x.hash === block)
          if (!h || fake.unverifiable.has(block))
            throw new ReadError('BLOCK_UNAVAILABLE', `${block} not verified`)
          return h
        }
        return at(block as BlockTag)
      }),
    async waitSynced() {
      return at('latest')
    },
    retry() {},
    verifyAndRepair: () => Promise.reject(new Error('not faked')),
    lastRecovery: () => null,
    checkConsistency: () => Promise.reject(new Error('not faked')),
    consistencyResults: async () => [],
    evidence: async () => [],
    async acknowledgeEvidence() {},
    async clearData() {},
    close() {},
  }
  return fake
}

/** A started client with a verified head at `head` (headers 0…head) and these accounts (defaults: none). */
export function startedClient(accounts: Record<string, Partial<FakeAccount>>, head: number): FakeLightClient {
  const client = fakeLightClient(1337)
  for (const [address, a] of Object.entries(accounts))
    client.accounts.set(address, {
      balance: 0n,
      nonce: 0,
      code: '0x',
      codeHash: `0x${'c5'.repeat(32)}`,
      storageRoot: `0x${'56'.repeat(32)}`,
      storage: {},
      ...a,
    })
  for (let n = 0; n <= head; n++) client.advance(n)
  return client
}
