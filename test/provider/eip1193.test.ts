/**
 * The EIP-1193 provider's mapping onto the light client, against an in-memory LightClient: each
 * method's answer and the read it makes, params validation, error codes, connection events and
 * the newHeads subscription's lifecycle.
 */
import { describe, expect, it, vi } from 'vitest'
import { createEip1193Provider, type ProviderRpcError, RPC_CODE } from '../../src/provider/eip1193.ts'
import { fakeLightClient, header, startedClient } from './fake-light-client.ts'

const ALICE = '0x00000000000000000000000000000000000a11ce'
const TOKEN = '0x000000000000000000000000000000000000c0de'
const NOBODY = '0x0000000000000000000000000000000000000b0b'
const SLOT1 = `0x${'00'.repeat(31)}01`

/** A started client with a verified head at 5 and two accounts. */
function setup() {
  const client = startedClient(
    {
      [ALICE]: { balance: 10n ** 18n + 5n, nonce: 7 },
      [TOKEN]: {
        nonce: 1,
        code: '0x6080604052',
        codeHash: `0x${'ab'.repeat(32)}`,
        storageRoot: `0x${'cd'.repeat(32)}`,
        storage: { [SLOT1]: `0x${'00'.repeat(30)}0400` },
      },
    },
    5,
  )
  const provider = createEip1193Provider(client)
  return { client, provider }
}

/** The ProviderRpcError a request rejects with. */
async function rejection(p: Promise<unknown>): Promise<ProviderRpcError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (x: unknown) => x,
  )
  expect(e).toBeInstanceOf(Error)
  return e as ProviderRpcError
}

describe('methods', () => {
  it('answers the chain id in hex and net_version in decimal', async () => {
    const { provider } = setup()
    expect(await provider.request({ method: 'eth_chainId' })).toBe('0x539')
    expect(await provider.request({ method: 'net_version', params: [] })).toBe('1337')
    expect(provider.isRootsync).toBe(true)
  })

  it('answers the verified head as eth_blockNumber, following new heads', async () => {
    const { client, provider } = setup()
    expect(await provider.request({ method: 'eth_blockNumber' })).toBe('0x5')
    client.advance(6)
    expect(await provider.request({ method: 'eth_blockNumber' })).toBe('0x6')
  })

  it('reads balances, nonces, code and storage at the block asked, 0 for absent accounts', async () => {
    const { client, provider } = setup()
    expect(await provider.request({ method: 'eth_getBalance', params: [ALICE, 'latest'] })).toBe(
      '0xde0b6b3a7640005',
    )
    expect(await provider.request({ method: 'eth_getTransactionCount', params: [ALICE, '0x3'] })).toBe('0x7')
    expect(await provider.request({ method: 'eth_getBalance', params: [NOBODY] })).toBe('0x0')
    expect(await provider.request({ method: 'eth_getTransactionCount', params: [NOBODY, 'latest'] })).toBe(
      '0x0',
    )
    expect(await provider.request({ method: 'eth_getCode', params: [TOKEN, 'latest'] })).toBe('0x6080604052')
    expect(await provider.request({ method: 'eth_getCode', params: [NOBODY, 'latest'] })).toBe('0x')
    // A slot as a short quantity reads the 32-byte slot; the value comes back as 32 bytes.
    expect(await provider.request({ method: 'eth_getStorageAt', params: [TOKEN, '0x1', '0x4'] })).toBe(
      `0x${'00'.repeat(30)}0400`,
    )
    expect(client.calls).toEqual([
      { method: 'getAccount', arg: ALICE, block: 'latest' },
      { method: 'getAccount', arg: ALICE, block: 3 },
      { method: 'getAccount', arg: NOBODY, block: 'latest' },
      { method: 'getAccount', arg: NOBODY, block: 'latest' },
      { method: 'getCode', arg: TOKEN, block: 'latest' },
      { method: 'getCode', arg: NOBODY, block: 'latest' },
      { method: 'getStorage', arg: TOKEN, block: 4 },
    ])
  })

  it('takes pending, safe and finalized as latest, earliest as 0, and EIP-1898 block objects', async () => {
    const { client, provider } = setup()
    for (const tag of ['pending', 'safe', 'finalized'])
      await provider.request({ method: 'eth_getBalance', params: [ALICE, tag] })
    await provider.request({ method: 'eth_getBalance', params: [ALICE, 'earliest'] })
    await provider.request({ method: 'eth_getBalance', params: [ALICE, { blockNumber: '0x2' }] })
    await provider.request({ method: 'eth_getBalance', params: [ALICE, { blockHash: header(4).hash }] })
    expect(client.calls.map((c) => c.block ?? c.arg)).toEqual([
      'latest',
      'latest',
      'latest',
      0,
      2,
      header(4).hash,
      4,
    ])
  })

  it('answers blocks by number and by hash with the verified header fields and neutral others', async () => {
    const { provider } = setup()
    const h = header(3)
    const byNumber = (await provider.request({
      method: 'eth_getBlockByNumber',
      params: ['0x3', false],
    })) as Record<string, unknown>
    expect(byNumber).toMatchObject({
      number: '0x3',
      hash: h.hash,
      parentHash: h.parentHash,
      stateRoot: h.stateRoot,
      transactionsRoot: h.transactionsRoot,
      timestamp: `0x${h.timestamp.toString(16)}`,
      extraData: '0x',
      validatorsHash: h.validatorsHash,
      transactions: [],
      uncles: [],
      gasLimit: '0x0',
      miner: `0x${'00'.repeat(20)}`,
    })
    expect(await provider.request({ method: 'eth_getBlockByHash', params: [h.hash, true] })).toEqual(byNumber)
    const latest = (await provider.request({ method: 'eth_getBlockByNumber', params: ['latest', true] })) as {
      number: string
      transactions: unknown[]
    }
    expect(latest.number).toBe('0x5')
    expect(latest.transactions).toEqual([])
    // Above the verified head: null, as for a block a node does not have.
    expect(await provider.request({ method: 'eth_getBlockByNumber', params: ['0x6', false] })).toBeNull()
  })

  it('answers eth_getProof in the EIP-1186 shape, absent accounts and slots included', async () => {
    const { client, provider } = setup()
    const present = await provider.request({
      method: 'eth_getProof',
      params: [TOKEN, ['0x1', '0x2'], 'latest'],
    })
    expect(present).toEqual({
      address: TOKEN,
      accountProof: [`0xf8${TOKEN.slice(2, 10)}`],
      balance: '0x0',
      codeHash: `0x${'ab'.repeat(32)}`,
      nonce: '0x1',
      storageHash: `0x${'cd'.repeat(32)}`,
      storageProof: [
        // The keys as the caller gave them; values as quantities.
        { key: '0x1', value: '0x400', proof: [`0xe2${SLOT1.slice(-8)}`] },
        { key: '0x2', value: '0x0', proof: ['0xe200000002'] },
      ],
    })
    expect(client.calls.at(-1)).toEqual({ method: 'getProof', arg: TOKEN, block: 'latest' })
    const absent = (await provider.request({
      method: 'eth_getProof',
      params: [NOBODY, [SLOT1], '0x2'],
    })) as Record<string, unknown>
    expect(absent).toMatchObject({
      address: NOBODY,
      balance: '0x0',
      nonce: '0x0',
      // The empty account's code hash and storage root, as an Ethereum node shows an absent account.
      codeHash: '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470',
      storageHash: '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421',
      storageProof: [{ key: SLOT1, value: '0x0', proof: [`0xe2${SLOT1.slice(-8)}`] }],
    })
    expect((absent.accountProof as string[]).length).toBe(1)
  })
})

describe('params', () => {
  const cases: [string, unknown, RegExp][] = [
    ['eth_getBalance', ['0x1234', 'latest'], /address/],
    ['eth_getBalance', [`${ALICE}00`, 'latest'], /address/],
    ['eth_getBalance', [ALICE, 'newest'], /block/],
    ['eth_getBalance', [ALICE, '0x01'], /block/],
    ['eth_getBalance', [ALICE, 5], /block/],
    ['eth_getBalance', [ALICE, 'latest', 'extra'], /1 to 2 params/],
    ['eth_getBalance', { address: ALICE }, /list/],
    ['eth_getBalance', [], /1 to 2 params/],
    ['eth_getStorageAt', [TOKEN, `0x${'0'.repeat(65)}`, 'latest'], /slot/],
    ['eth_getStorageAt', [TOKEN, 'one', 'latest'], /slot/],
    ['eth_getProof', [TOKEN, '0x1', 'latest'], /storage keys/],
    ['eth_getProof', [TOKEN, ['0x1', 'x'], 'latest'], /storage keys\[1\]/],
    ['eth_getBlockByNumber', ['latest', 'yes'], /hydrated/],
    ['eth_getBlockByHash', ['0x1234', false], /block hash/],
    ['eth_getBalance', [ALICE, { blockHash: '0x12' }], /blockHash/],
    ['eth_subscribe', ['logs'], /newHeads/],
    ['eth_chainId', [1], /0 params/],
  ]
  it.each(cases)('%s %j → -32602 naming the param', async (method, params, message) => {
    const { client, provider } = setup()
    const e = await rejection(provider.request({ method, params: params as unknown[] }))
    expect(e.code).toBe(RPC_CODE.INVALID_PARAMS)
    expect(e.message).toMatch(message)
    expect(client.calls).toEqual([])
  })

  it('refuses a request without a method (-32600)', async () => {
    const { provider } = setup()
    const e = await rejection(provider.request({} as never))
    expect(e.code).toBe(RPC_CODE.INVALID_REQUEST)
  })
})

describe('errors', () => {
  it('refuses an unsupported method with 4200, naming it', async () => {
    const { client, provider } = setup()
    for (const method of ['eth_sendTransaction', 'eth_call', 'eth_accounts', 'foo']) {
      const e = await rejection(provider.request({ method, params: [] }))
      expect(e).toMatchObject({ code: 4200, data: { method } })
      expect(e.message).toContain(method)
    }
    expect(client.calls).toEqual([])
  })

  it('maps a verification failure to -32050 with the client code and reason in data', async () => {
    const { client, provider } = setup()
    for (const [code, method, params] of [
      ['NO_VALID_PROOF', 'getAccount', ['eth_getBalance', [ALICE]]],
      ['EQUIVOCATION_HALT', 'getStorage', ['eth_getStorageAt', [TOKEN, '0x1']]],
      ['STATE_UNAVAILABLE', 'getProof', ['eth_getProof', [TOKEN, [], '0x1']]],
      ['BLOCK_UNAVAILABLE', 'getBlock', ['eth_getBlockByNumber', ['0x2', false]]],
      ['NO_VALID_PROOF', 'getCode', ['eth_getCode', [TOKEN]]],
    ] as const) {
      client.failNext(method, code, `${code} because`)
      const e = await rejection(provider.request({ method: params[0], params: params[1] }))
      expect(e.code).toBe(RPC_CODE.UNVERIFIED)
      expect(e.data).toEqual({ code, reason: `${code} because` })
      expect(e.message).toContain(code)
    }
    // The provider stays connected: the next read answers.
    expect(await provider.request({ method: 'eth_getBalance', params: [ALICE] })).toBe('0xde0b6b3a7640005')
  })

  it('maps the client not having a verified header to 4901, and input it refuses to -32602', async () => {
    const { client, provider } = setup()
    client.failNext('getAccount', 'NO_VERIFIED_HEADER', 'no header verified yet')
    const e = await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))
    expect(e).toMatchObject({
      code: 4901,
      data: { code: 'NO_VERIFIED_HEADER', reason: 'no header verified yet' },
    })
    client.failNext('getProof', 'INPUT_INVALID', 'more than 64 slots')
    const f = await rejection(provider.request({ method: 'eth_getProof', params: [ALICE, []] }))
    expect(f).toMatchObject({ code: -32602, data: { code: 'INPUT_INVALID' } })
  })

  it('maps an error without a code to -32603', async () => {
    const { client, provider } = setup()
    client.getAccount = () => Promise.reject(new TypeError('boom'))
    const e = await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))
    expect(e).toMatchObject({ code: RPC_CODE.INTERNAL, data: { reason: 'boom' } })
  })
})

describe('connection', () => {
  it('is disconnected (4900) before start, chain-disconnected (4901) before the first verified header', async () => {
    const client = fakeLightClient(null)
    const provider = createEip1193Provider(client)
    const connect = vi.fn()
    provider.on('connect', connect)
    expect((await rejection(provider.request({ method: 'eth_chainId' }))).code).toBe(4900)
    expect((await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))).code).toBe(4900)
    client.configure(1337)
    client.emit({ type: 'phase', phase: 'connecting' })
    expect(await provider.request({ method: 'eth_chainId' })).toBe('0x539')
    expect((await rejection(provider.request({ method: 'eth_blockNumber' }))).code).toBe(4901)
    expect((await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))).code).toBe(4901)
    expect(connect).not.toHaveBeenCalled()
    client.advance(1)
    expect(connect).toHaveBeenCalledExactlyOnceWith({ chainId: '0x539' })
    client.advance(2)
    expect(connect).toHaveBeenCalledOnce()
    expect(await provider.request({ method: 'eth_blockNumber' })).toBe('0x2')
  })

  it('announces connect to listeners added at once when the client already has a verified head', async () => {
    const { client } = setup()
    const provider = createEip1193Provider(client)
    const connect = vi.fn()
    provider.on('connect', connect)
    await vi.waitFor(() => expect(connect).toHaveBeenCalledExactlyOnceWith({ chainId: '0x539' }))
  })

  it('disconnects (4900) when the client stops, and connects again on its next verified header', async () => {
    const { client, provider } = setup()
    const disconnect = vi.fn()
    const connect = vi.fn()
    provider.on('disconnect', disconnect).on('connect', connect)
    client.emit({ type: 'phase', phase: 'stopped' })
    expect(disconnect).toHaveBeenCalledOnce()
    expect(disconnect.mock.calls[0]![0]).toMatchObject({ code: 4900 })
    expect((await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))).code).toBe(4900)
    client.emit({ type: 'phase', phase: 'stopped' })
    expect(disconnect).toHaveBeenCalledOnce()
    client.emit({ type: 'phase', phase: 'connecting' })
    expect((await rejection(provider.request({ method: 'eth_blockNumber' }))).code).toBe(4901)
    client.advance(6)
    expect(connect).toHaveBeenCalledExactlyOnceWith({ chainId: '0x539' })
    expect(await provider.request({ method: 'eth_blockNumber' })).toBe('0x6')
  })

  it('disconnects when a read finds the client closed (STOPPED)', async () => {
    const { client, provider } = setup()
    const disconnect = vi.fn()
    provider.on('disconnect', disconnect)
    client.failNext('getAccount', 'STOPPED', 'the client was stopped')
    const e = await rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))
    expect(e).toMatchObject({ code: 4900, data: { code: 'STOPPED' } })
    expect(disconnect).toHaveBeenCalledOnce()
    expect((await rejection(provider.request({ method: 'eth_blockNumber' }))).code).toBe(4900)
  })

  it('emits chainChanged when the client starts again on another chain', async () => {
    const { client, provider } = setup()
    const changed = vi.fn()
    provider.on('chainChanged', changed)
    client.advance(6)
    expect(changed).not.toHaveBeenCalled()
    client.emit({ type: 'phase', phase: 'stopped' })
    client.configure(7)
    client.emit({ type: 'phase', phase: 'connecting' })
    client.advance(7)
    expect(changed).toHaveBeenCalledExactlyOnceWith('0x7')
    expect(await provider.request({ method: 'eth_chainId' })).toBe('0x7')
  })

  it("sends the new chain's heads to subscriptions made after chainChanged, though numbered lower", async () => {
    const { client, provider } = setup()
    const messages: { data: { result: { number: string } } }[] = []
    provider.on('message', (m: never) => messages.push(m))
    await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })
    client.advance(9)
    await vi.waitFor(() => expect(messages).toHaveLength(1))
    client.emit({ type: 'phase', phase: 'stopped' })
    client.configure(7)
    client.emit({ type: 'phase', phase: 'connecting' })
    client.advance(2)
    await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })
    client.advance(3)
    await vi.waitFor(() => expect(messages).toHaveLength(2))
    expect(messages[1]!.data.result.number).toBe('0x3')
  })

  it('stops answering (4900) and disconnects once its signal aborts, aborting reads in flight', async () => {
    const client = fakeLightClient(1337)
    client.advance(1)
    const ac = new AbortController()
    const provider = createEip1193Provider(client, { signal: ac.signal })
    const disconnect = vi.fn()
    provider.on('disconnect', disconnect)
    let seen: AbortSignal | undefined
    client.getAccount = (_a, o) =>
      new Promise((_, reject) => {
        seen = o?.signal
        o?.signal?.addEventListener('abort', () =>
          reject(Object.assign(new Error('cancelled'), { code: 'READ_CANCELLED' })),
        )
      })
    const inFlight = rejection(provider.request({ method: 'eth_getBalance', params: [ALICE] }))
    await vi.waitFor(() => expect(seen).toBeDefined())
    ac.abort()
    expect((await inFlight).code).toBe(4900)
    expect(disconnect).toHaveBeenCalledOnce()
    expect((await rejection(provider.request({ method: 'eth_chainId' }))).code).toBe(4900)
    client.advance(2)
    expect(disconnect).toHaveBeenCalledOnce()
  })

  it('removes listeners, and one that throws does not keep the others from hearing', async () => {
    const client = fakeLightClient(1337)
    const provider = createEip1193Provider(client)
    const thrown = vi.fn()
    const onError = (e: unknown) => thrown(e)
    process.on('uncaughtException', onError)
    const removed = vi.fn()
    const kept = vi.fn()
    provider
      .on('connect', () => {
        throw new Error('listener failed')
      })
      .on('connect', removed)
      .on('connect', kept)
      .removeListener('connect', removed)
    client.advance(1)
    expect(kept).toHaveBeenCalledOnce()
    expect(removed).not.toHaveBeenCalled()
    await vi.waitFor(() => expect(thrown).toHaveBeenCalledOnce())
    process.off('uncaughtException', onError)
  })
})

describe('newHeads subscription', () => {
  it('sends each new verified head once, in order, until unsubscribed', async () => {
    const { client, provider } = setup()
    const messages: {
      type: string
      data: { subscription: string; result: { number: string; stateRoot: string } }
    }[] = []
    provider.on('message', (m: never) => messages.push(m))
    const id = (await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })) as string
    expect(id).toMatch(/^0x[0-9a-f]{32}$/)
    client.advance(6)
    client.advance(6) // the same head again: not sent twice
    client.unverifiable.add(header(7).hash) // not verified by hash: never sent
    client.advance(7)
    client.advance(8)
    await vi.waitFor(() => expect(messages).toHaveLength(2))
    expect(messages.map((m) => [m.type, m.data.subscription, m.data.result.number])).toEqual([
      ['eth_subscription', id, '0x6'],
      ['eth_subscription', id, '0x8'],
    ])
    expect(messages[1]!.data.result.stateRoot).toBe(header(8).stateRoot)
    expect(await provider.request({ method: 'eth_unsubscribe', params: [id] })).toBe(true)
    expect(await provider.request({ method: 'eth_unsubscribe', params: [id] })).toBe(false)
    // A second subscription hears the next head; the ended one does not.
    const other = await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })
    client.advance(9)
    await vi.waitFor(() => expect(messages).toHaveLength(3))
    expect(messages[2]!.data).toMatchObject({ subscription: other, result: { number: '0x9' } })
  })

  it('ends subscriptions on disconnect', async () => {
    const { client, provider } = setup()
    const messages: unknown[] = []
    provider.on('message', (m: never) => messages.push(m))
    const id = await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })
    client.emit({ type: 'phase', phase: 'stopped' })
    expect(await provider.request({ method: 'eth_unsubscribe', params: [id] })).toBe(false)
    client.emit({ type: 'phase', phase: 'connecting' })
    client.advance(6)
    const other = await provider.request({ method: 'eth_subscribe', params: ['newHeads'] })
    client.advance(7)
    await vi.waitFor(() => expect(messages).toHaveLength(1))
    expect(messages).toMatchObject([{ data: { subscription: other, result: { number: '0x7' } } }])
  })
})
