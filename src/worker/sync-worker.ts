/**
 * The sync worker's entry: wires the light client (light-client.ts) to IndexedDB, to libp2p
 * WebSocket peers it dials itself and to WebRTC peers the page bridges in (bridged-peer.ts), and
 * answers the page's messages (src/client/messages.ts). Everything heavy (hashing, decoding,
 * storage) happens here, off the page's main thread.
 */
import type { FromWorker, ToWorker } from '../client/messages.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { IdbNodeStore } from '../store/idb-store.ts'
import { BridgedPeer } from './bridged-peer.ts'
import { createLightClient, type LightClient } from './light-client.ts'
import { createPeerRegistry } from './peer-registry.ts'
import { loadProofCache } from './proof-cache.ts'
import { getAccount, getStorage } from './verified-reads.ts'

/** Started at load, while the page is still fetching its configuration. */
const keccakReady = useWasmKeccak()

let libp2pImport: Promise<typeof import('./libp2p-browser.ts')> | null = null
const loadLibp2p = () => {
  libp2pImport ??= import('./libp2p-browser.ts')
  return libp2pImport
}
/** The databases of this origin when the worker started (null: the browser cannot list them). */
const databases = indexedDB.databases().then(
  (dbs) => dbs.map((d) => d.name ?? ''),
  () => null,
)
// A first visit has nothing stored to answer from: load libp2p at once, while the page fetches its
// configuration. A return visit loads it after answering from IndexedDB.
void databases.then((names) => {
  if (names && !names.some((n) => n.startsWith('rootsync-'))) void loadLibp2p()
})
const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m)
const peers = createPeerRegistry((views) => post({ type: 'peers', peers: views }))
let client: LightClient | null = null
let chainId = 0
/** Reads that arrive before `start` finished opening the store. */
let ready: Promise<LightClient> | null = null

/**
 * Reads are served as soon as the stored head is trusted again (warm start), before libp2p, the
 * node index or any peer: the first verified balance of a return visit needs only IndexedDB.
 */
async function start(m: Extract<ToWorker, { type: 'start' }>): Promise<LightClient> {
  chainId = m.bootstrap.chainId
  // A first visit has no local answer to give: dial the peers while IndexedDB opens. A return
  // visit answers from IndexedDB first and connects a turn later.
  const first = (await databases)?.includes(m.dbName) === false
  const net = first ? network(m) : null
  // Reads hash little and do not wait for the wasm keccak (the sync does, in `network`).
  const store = await IdbNodeStore.open(m.dbName)
  const c = createLightClient({ config: m.bootstrap, store, peers, post })
  client = c
  // Reads start once both are in (they are only served after `start` resolves).
  const [cache] = await Promise.all([loadProofCache(store), c.warmStart()])
  c.cache = cache
  setTimeout(() =>
    (net ?? network(m))
      .then(() => c.run())
      .catch((e: Error & { code?: string }) =>
        post({ type: 'error', code: e.code ?? 'WORKER_FAILED', message: e.message }),
      ),
  )
  return c
}

/**
 * libp2p and the configured WebSocket peers, each dialled at once: the light client's first status
 * round then finds the connections open (protocol requests reuse a peer's connection).
 */
async function network(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  // libp2p is most of this worker's code: loaded only when needed, so a return visit's first answer
  // does not wait for it to download and compile.
  const [{ createBrowserLibp2p, multiaddr, PeerClient }] = await Promise.all([loadLibp2p(), keccakReady])
  const node = await createBrowserLibp2p(true)
  for (const p of m.bootstrap.peers) {
    const addr = p.addrs.find((a) => a.includes('/ws'))
    if (!addr) continue
    const ma = multiaddr(addr)
    peers.add({
      peerId: p.peerId,
      name: p.name,
      transport: 'websocket',
      addr,
      client: new PeerClient(node, ma, { timeoutMs: 10_000 }),
    })
    // A failed dial shows up in that first round, as the peer's status error.
    void node.dial(ma).catch(() => {})
  }
}

function answer<T>(id: number, work: (c: LightClient) => Promise<T>, reply: (a: T) => FromWorker): void {
  if (!ready) {
    post({ type: 'read-error', id, code: 'NOT_STARTED', message: 'the worker has not been started' })
    return
  }
  ready.then(work).then(
    (a) => post(reply(a)),
    (e: Error & { code?: string }) =>
      post({ type: 'read-error', id, code: e.code ?? 'READ_FAILED', message: e.message }),
  )
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data
  switch (m.type) {
    case 'start':
      ready = start(m)
      ready.catch((e: Error & { code?: string }) =>
        post({ type: 'error', code: e.code ?? 'START_FAILED', message: e.message }),
      )
      break
    case 'getAccount':
      answer(
        m.id,
        (c) => getAccount(c, m.address),
        (a) => ({ type: 'account', id: m.id, answer: a }),
      )
      break
    case 'getStorage':
      answer(
        m.id,
        (c) => getStorage(c, m.address, m.slot),
        (a) => ({ type: 'storage', id: m.id, answer: a }),
      )
      break
    case 'add-peer': {
      const p = peers.add({
        ...m.peer,
        transport: 'webrtc',
        client: new BridgedPeer(m.peer.peerId, m.port, 10_000),
      })
      if (chainId) void peers.check(p, chainId)
      break
    }
    case 'peer-closed':
      peers.close(`webrtc:${m.peerId}`)
      break
    case 'retry':
      client?.retry()
      break
  }
}
