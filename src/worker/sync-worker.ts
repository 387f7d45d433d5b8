/**
 * The sync worker: verifies the header chain from the configured checkpoint, then syncs the state
 * under the newest verified header into IndexedDB, reporting progress to the page. Everything heavy
 * (hashing, decoding, storage) happens here, off the page's main thread.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { AccountAnswer, BootstrapInfo, FromWorker, ToWorker } from '../client/messages.ts'
import type { Account } from '../core/account.ts'
import { verifyAccountProof } from '../core/account-proof.ts'
import { fromHexExact, toHex } from '../core/bytes.ts'
import { headerHash, type TrustedHeader } from '../core/chain/header.ts'
import { type Checkpoint, trustCheckpoint, verifyHeadersTo } from '../core/chain/light.ts'
import { StateDB } from '../core/chain/state.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { type SyncResult, syncToState } from '../core/sync/state-sync.ts'
import { PeerClient } from '../net/client.ts'
import { syncPeerOf } from '../net/sync-peer.ts'
import { IdbNodeStore } from '../store/idb-store.ts'
import { createBrowserLibp2p } from './libp2p-browser.ts'

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m)

const postSynced = (r: SyncResult, startedMs: number) =>
  post({
    type: 'synced',
    root: r.root,
    height: r.height,
    nodes: r.nodes,
    seconds: (performance.now() - startedMs) / 1000,
  })

/** How often the worker asks peers for a newer head after the first sync. */
const FOLLOW_MS = 2000

/** What reads need: the newest verified header, the peers, and the store once the state is complete. */
const ctx: {
  head: { number: number; hash: string; stateRoot: Uint8Array } | null
  clients: PeerClient[]
  store: IdbNodeStore | null
  complete: boolean
} = { head: null, clients: [], store: null, complete: false }

/**
 * An account, verified: from the local state if it is complete for the verified head, else by an
 * EIP-1186 proof from a peer checked against the verified header's state root.
 */
async function getAccount(addressHex: string): Promise<AccountAnswer> {
  const address = fromHexExact(addressHex.trim(), 20, 'address')
  const head = ctx.head
  if (!head) throw new Error('no verified header yet: wait until the header chain is verified')
  const header = { number: head.number, hash: head.hash, stateRoot: toHex(head.stateRoot) }
  const shape = (a: Account | null) =>
    a && {
      balance: a.balance.toString(),
      nonce: a.nonce.toString(),
      codeHash: toHex(a.codeHash),
      storageRoot: toHex(a.storageRoot),
    }
  if (ctx.complete && ctx.store) {
    const a = await new StateDB(ctx.store, head.stateRoot).getAccount(address)
    return { address: toHex(address), account: shape(a), source: 'local', header }
  }
  const errors: string[] = []
  for (const c of ctx.clients) {
    try {
      const v = verifyAccountProof(
        head.stateRoot,
        await c.proof({ stateRoot: head.stateRoot, address, slots: [] }),
      )
      return {
        address: toHex(address),
        account: shape(v.account),
        source: 'proof',
        peer: c.id.split('/p2p/').pop(),
        header,
      }
    } catch (e) {
      errors.push((e as Error).message)
    }
  }
  throw new Error(`no peer gave a valid proof: ${errors.join('; ')}`)
}

async function run(b: BootstrapInfo): Promise<void> {
  await useWasmKeccak()
  const cp: Checkpoint = {
    chainId: b.chainId,
    number: b.checkpoint.number,
    hash: fromHexExact(b.checkpoint.hash, 32, 'checkpoint'),
    validators: b.validators.map((v) => fromHexExact(v, 20, 'validator')),
  }
  post({ type: 'status', phase: 'connecting', detail: `${b.peers.length} peers` })
  const node = await createBrowserLibp2p(true)
  const clients = b.peers
    .map((p) => p.addrs.find((a) => a.includes('/ws/')))
    .filter((a): a is string => !!a)
    .map((a) => new PeerClient(node, multiaddr(a), { timeoutMs: 10_000 }))
  const statuses = await Promise.all(
    clients.map((c) =>
      c.status().then(
        (s) => ({ c, s }),
        () => null,
      ),
    ),
  )
  const live = statuses.filter((x): x is NonNullable<typeof x> => !!x && x.s.chainId === cp.chainId)
  if (!live.length) throw Object.assign(new Error('no devnet peer answered'), { code: 'NO_PEERS' })
  const best = live.reduce((a, x) => (x.s.headNumber > a.s.headNumber ? x : a))

  post({ type: 'status', phase: 'verifying-headers', detail: `to block ${best.s.headNumber}` })
  const trusted = await trustCheckpoint(cp, best.c)
  const head = await verifyHeadersTo(cp, trusted, best.s.headNumber, best.c)
  ctx.clients = [best.c, ...live.map((x) => x.c).filter((c) => c !== best.c)]
  ctx.head = { number: head.header.number, hash: toHex(head.hash), stateRoot: head.header.stateRoot }
  post({
    type: 'header',
    number: head.header.number,
    hash: toHex(headerHash(head.header)),
    stateRoot: toHex(head.header.stateRoot),
  })

  post({ type: 'status', phase: 'syncing', detail: toHex(head.header.stateRoot) })
  const store = await IdbNodeStore.open(`rootsync-${b.chainId}-${b.genesisHash.slice(2, 10)}`)
  ctx.store = store
  const started = performance.now()
  const r = await syncToState(head.header.stateRoot, head.header.number, {
    store,
    peers: live.map((x) => syncPeerOf(x.c)),
    onEvent: (e) => {
      if (e.type === 'progress' || e.type === 'done') post({ type: 'progress', progress: e.progress })
    },
  })
  ctx.complete = true
  postSynced(r, started)
  post({ type: 'status', phase: 'synced', detail: r.root })
  await followHead(
    cp,
    { header: head.header, hash: head.hash },
    store,
    live.map((x) => x.c),
  )
}

/**
 * Keeps up with the chain: when a peer reports a newer head, verify the headers up to it and sync its
 * state. Subtrees already stored are skipped, so each round downloads only what changed; reads keep
 * answering from the last complete state meanwhile.
 */
async function followHead(
  cp: Checkpoint,
  trusted: TrustedHeader,
  store: IdbNodeStore,
  clients: PeerClient[],
): Promise<never> {
  let at = trusted
  for (;;) {
    await new Promise((r) => setTimeout(r, FOLLOW_MS))
    try {
      const statuses = await Promise.all(
        clients.map((c) =>
          c.status().then(
            (s) => ({ c, s }),
            () => null,
          ),
        ),
      )
      const ahead = statuses.filter(
        (x): x is NonNullable<typeof x> => !!x && x.s.headNumber > at.header.number,
      )
      if (!ahead.length) continue
      const best = ahead.reduce((a, x) => (x.s.headNumber > a.s.headNumber ? x : a))
      const next = await verifyHeadersTo(cp, at, best.s.headNumber, best.c)
      post({
        type: 'header',
        number: next.header.number,
        hash: toHex(next.hash),
        stateRoot: toHex(next.header.stateRoot),
      })
      const started = performance.now()
      const r = await syncToState(next.header.stateRoot, next.header.number, {
        store,
        peers: ahead.map((x) => syncPeerOf(x.c)),
      })
      at = next
      ctx.head = { number: next.header.number, hash: toHex(next.hash), stateRoot: next.header.stateRoot }
      postSynced(r, started)
    } catch (e) {
      post({
        type: 'status',
        phase: 'synced',
        detail: `could not follow the head yet: ${(e as Error).message}`,
      })
    }
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data
  if (m.type === 'start') {
    run(m.bootstrap).catch((e: Error & { code?: string }) =>
      post({ type: 'error', code: e.code ?? 'SYNC_FAILED', message: e.message }),
    )
  } else if (m.type === 'getAccount') {
    getAccount(m.address).then(
      (answer) => post({ type: 'account', id: m.id, answer }),
      (e: Error) => post({ type: 'account-error', id: m.id, message: e.message }),
    )
  }
}
