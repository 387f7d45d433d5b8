/**
 * The sync worker: verifies the header chain from the configured checkpoint, then syncs the state
 * under the newest verified header into IndexedDB, reporting progress to the page. Everything heavy
 * (hashing, decoding, storage) happens here, off the page's main thread.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { BootstrapInfo, FromWorker, ToWorker } from '../client/messages.ts'
import { fromHexExact, toHex } from '../core/bytes.ts'
import { headerHash } from '../core/chain/header.ts'
import { type Checkpoint, trustCheckpoint, verifyHeadersTo } from '../core/chain/light.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { syncToState } from '../core/sync/state-sync.ts'
import { PeerClient } from '../net/client.ts'
import { syncPeerOf } from '../net/sync-peer.ts'
import { IdbNodeStore } from '../store/idb-store.ts'
import { createBrowserLibp2p } from './libp2p-browser.ts'

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m)

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
  post({
    type: 'header',
    number: head.header.number,
    hash: toHex(headerHash(head.header)),
    stateRoot: toHex(head.header.stateRoot),
  })

  post({ type: 'status', phase: 'syncing', detail: toHex(head.header.stateRoot) })
  const store = await IdbNodeStore.open(`rootsync-${b.chainId}-${b.genesisHash.slice(2, 10)}`)
  const started = performance.now()
  const r = await syncToState(head.header.stateRoot, head.header.number, {
    store,
    peers: live.map((x) => syncPeerOf(x.c)),
    onEvent: (e) => {
      if (e.type === 'progress' || e.type === 'done') post({ type: 'progress', progress: e.progress })
    },
  })
  post({
    type: 'synced',
    root: r.root,
    height: r.height,
    nodes: r.nodes,
    seconds: (performance.now() - started) / 1000,
  })
  post({ type: 'status', phase: 'synced', detail: r.root })
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  if (ev.data.type !== 'start') return
  run(ev.data.bootstrap).catch((e: Error & { code?: string }) =>
    post({ type: 'error', code: e.code ?? 'SYNC_FAILED', message: e.message }),
  )
}
