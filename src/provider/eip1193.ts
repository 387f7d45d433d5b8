/**
 * An EIP-1193 provider backed by the light client's verified reads: what viem's `custom()`
 * transport, ethers' `BrowserProvider` and wallets' dApp connectors speak.
 *
 *   const provider = createEip1193Provider(lightClient)
 *   provider.on('connect', ({ chainId }) => …)          // the first verified header
 *   await provider.request({ method: 'eth_getBalance', params: ['0x…', 'latest'] })   // '0x…'
 *
 * Methods: eth_chainId, net_version (answered once the client is started: they are configuration),
 * eth_blockNumber, eth_getBlockByNumber, eth_getBlockByHash, eth_getBalance, eth_getTransactionCount,
 * eth_getCode, eth_getStorageAt, eth_getProof (EIP-1186), eth_subscribe('newHeads'), eth_unsubscribe.
 * Block parameters: `latest`, `pending`, `safe`, `finalized` (all the verified head: a verified header
 * is final on this chain and no pending block is known), `earliest` (0), a hex number, or EIP-1898's
 * `{ blockNumber }` / `{ blockHash }`. Block objects: see format.ts for the neutral values of the
 * fields this chain's headers lack; eth_getBlockByNumber above the verified head answers null (no
 * such block verified yet), any other block the client cannot verify is an error (-32050).
 *
 * Errors (`ProviderRpcError`: numeric `code`, `message`, `data`):
 *
 *   code    when                                                         data
 *   4200    the method is not one of the above                           { method }
 *   4900    not started, stopped (phase `stopped`), closed (a read says  { code, reason } when the
 *           STOPPED / NOT_STARTED), or the provider's `signal` aborted     client said why
 *   4901    started, but no header verified yet (wait for `connect`);    { code, reason } when the
 *           also the client's NO_VERIFIED_HEADER                           client said why
 *   -32600  the request is not `{ method: string, params? }`             —
 *   -32602  a malformed param (address, slot, block, flag, count); the   { code, reason } for the
 *           message names it; also the client's INPUT_INVALID              client's INPUT_INVALID
 *   -32050  no verified answer: the light client's read failed with any  { code, reason }: the
 *           other code — NO_VALID_PROOF (no peer gave a proof that         client's ReadError code
 *           verifies), NO_VALID_CODE, EQUIVOCATION_HALT (unacknowledged    and its message
 *           equivocation evidence), BLOCK_UNAVAILABLE (no verified header
 *           at that block), STATE_UNAVAILABLE (no peer keeps that state),
 *           READ_FAILED (anything else the worker met)
 *   -32603  an unexpected failure without a code (a bug)                 { reason }
 *
 * 4200 and -32602 are never retried by viem (nor is 4900/4901); -32050 is a code viem does not know,
 * so viem's transport retries it (by default 3 times, with backoff): a retry may reach another peer.
 *
 * Events: `connect` ({ chainId }) on the first verified header after the provider is created or the
 * client (re)started; `disconnect` (a 4900 ProviderRpcError) when it stops or closes or the provider
 * is aborted (subscriptions end with it); `chainChanged` (hex chain id) when a verified header arrives
 * for another chain than the last announced; `message` ({ type: 'eth_subscription', data: {
 * subscription, result } }) with each new verified head's block object for `newHeads` subscriptions.
 *
 * Security considerations: every answer is the light client's, verified against a header it
 * verified from its configured checkpoint (which is the root of trust: a provider over a client
 * configured for the wrong chain answers for that chain). Nothing is answered before the first
 * verified header. A head whose block cannot be read verified is not sent to subscribers.
 */
import type { HeaderView } from '../api/worker-protocol.ts'
import type { LightClient } from '../client/light-client.ts'
import { initialLink, type LinkInput, stepLink } from './connection.ts'
import { blockObject } from './format.ts'
import { quantity } from './hex.ts'
import { METHODS, type MethodContext } from './methods.ts'
import { chainDisconnected, disconnected, ProviderRpcError, RPC_CODE, rpcErrorOf } from './rpc-errors.ts'

export { ProviderRpcError, RPC_CODE } from './rpc-errors.ts'

export interface RequestArguments {
  readonly method: string
  readonly params?: readonly unknown[] | object
}

export type ProviderEvent = 'connect' | 'disconnect' | 'chainChanged' | 'message'

export interface RootsyncProvider {
  request(args: RequestArguments): Promise<unknown>
  on(event: ProviderEvent, listener: (arg: never) => void): RootsyncProvider
  removeListener(event: string, listener: (arg: never) => void): RootsyncProvider
  /** Marks this as rootsync's provider (wallet libraries look for such flags). */
  readonly isRootsync: true
}

export interface ProviderOptions {
  /** Aborts every request in flight and refuses new ones (4900) once aborted. */
  signal?: AbortSignal
}

const randomId = () =>
  `0x${Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('')}`

export function createEip1193Provider(client: LightClient, opts: ProviderOptions = {}): RootsyncProvider {
  const { signal } = opts
  const listeners = new Map<string, Set<(arg: never) => void>>()
  const subscriptions = new Set<string>()
  let state = initialLink(client.chainId(), client.head() !== null)
  /** New heads go out one at a time, in order, each once. */
  let heads = Promise.resolve()
  let lastSent = client.head()?.number ?? -1

  const emit = (event: ProviderEvent, arg: unknown) => {
    for (const l of [...(listeners.get(event) ?? [])]) {
      try {
        ;(l as (a: unknown) => void)(arg)
      } catch (e) {
        // A listener's failure is its own: the others still hear the event.
        queueMicrotask(() => {
          throw e
        })
      }
    }
  }

  function apply(input: LinkInput) {
    const { state: next, out } = stepLink(state, input)
    state = next
    for (const o of out) {
      if (o.event === 'disconnect') {
        subscriptions.clear()
        emit('disconnect', disconnected(signal?.aborted ? 'the provider was aborted' : 'the client stopped'))
      } else if (o.event === 'connect') emit('connect', { chainId: quantity(o.chainId) })
      else {
        lastSent = -1 // another chain's heads: numbered afresh
        emit('chainChanged', quantity(o.chainId))
      }
    }
  }

  function sendHead(h: HeaderView) {
    if (!subscriptions.size || h.number <= lastSent) return
    lastSent = h.number
    heads = heads.then(async () => {
      let result: Record<string, unknown>
      try {
        result = blockObject(await client.getBlock(h.hash, { signal }))
      } catch {
        return // not verified by hash (replaced, or the client stopped): never sent unverified
      }
      for (const subscription of subscriptions)
        emit('message', { type: 'eth_subscription', data: { subscription, result } })
    })
  }

  const unsubscribeClient = client.subscribe((e) => {
    if (signal?.aborted) return
    if (e.type === 'header') {
      apply({ kind: 'header', chainId: client.chainId() })
      sendHead(e.header)
    } else if (e.type === 'phase') apply({ kind: 'phase', phase: e.phase })
  })
  signal?.addEventListener(
    'abort',
    () => {
      unsubscribeClient()
      apply({ kind: 'gone' })
    },
    { once: true },
  )
  if (state.link === 'connected') {
    const chainId = state.announced
    queueMicrotask(() => state.link === 'connected' && emit('connect', { chainId: quantity(chainId ?? 0) }))
  }

  const ctx: MethodContext = {
    client,
    signal,
    subscribe() {
      const id = randomId()
      subscriptions.add(id)
      return id
    },
    unsubscribe: (id) => subscriptions.delete(id),
  }

  /** Refuses a request the connection cannot answer yet (4900/4901). */
  function admit(needs: 'none' | 'config' | 'head') {
    if (needs === 'none') return
    if (signal?.aborted) throw disconnected('the provider was aborted')
    if (client.chainId() === null) throw disconnected('the light client is not started')
    if (needs === 'config') return
    if (state.link === 'disconnected') throw disconnected('the light client is stopped')
    if (state.link === 'verifying' || client.head() === null) throw chainDisconnected()
  }

  const provider: RootsyncProvider = {
    isRootsync: true,
    async request(args) {
      if (typeof args !== 'object' || args === null || typeof args.method !== 'string')
        throw new ProviderRpcError(RPC_CODE.INVALID_REQUEST, 'expected { method: string, params?: [...] }')
      const m = METHODS.get(args.method)
      if (!m)
        throw new ProviderRpcError(
          RPC_CODE.UNSUPPORTED_METHOD,
          `rootsync does not support ${args.method}: it answers verified reads only`,
          { method: args.method },
        )
      const call = m.prepare(args.params)
      admit(m.needs)
      try {
        return await call(ctx)
      } catch (e) {
        const err = rpcErrorOf(e)
        if (err.code === RPC_CODE.DISCONNECTED) apply({ kind: 'gone' })
        throw err
      }
    },
    on(event, listener) {
      let set = listeners.get(event)
      if (!set) listeners.set(event, (set = new Set()))
      set.add(listener)
      return provider
    },
    removeListener(event, listener) {
      listeners.get(event)?.delete(listener)
      return provider
    },
  }
  return provider
}
