/**
 * rootsync for a page: starts the sync worker, brings in WebRTC peers through the page (workers
 * cannot open RTCPeerConnections), and offers verified reads. The app's UI uses exactly this; a
 * wallet embeds it the same way:
 *
 *   const rs = createRootsyncClient()
 *   rs.subscribe((m) => …)          // status, verified header, progress, peers, store figures
 *   rs.start(config)                // BootstrapInfo: chain id, checkpoint, validators, peers
 *   const a = await rs.getAccount('0x…')   // a.source: 'local' | 'proof', a.header: what it is proven against
 *
 * Every answer is verified in the worker against a header verified from the checkpoint.
 */
import type { AccountAnswer, BootstrapInfo, FromWorker, StorageAnswer, ToWorker } from './messages.ts'

export class ReadError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ReadError'
  }
}

/** What subscribers hear: the worker's messages, and the page's WebRTC dials. */
export type ClientEvent =
  | FromWorker
  | { type: 'webrtc'; peerId: string; event: 'connected' | 'failed' | 'closed'; message?: string }

export interface RootsyncClient {
  /** Starts (or restarts, with a new configuration) the worker. */
  start(config: BootstrapInfo): void
  getAccount(address: string): Promise<AccountAnswer>
  getStorage(address: string, slot: string): Promise<StorageAnswer>
  subscribe(listener: (m: ClientEvent) => void): () => void
  /** Resume after a failure the worker waits on (a full store, once space is freed). */
  retry(): void
  /** Stops the worker, deletes this chain's local database and starts again from the checkpoint. */
  clearData(): Promise<void>
  readonly dbName: string | null
  close(): void
}

/** One database per chain and genesis (or checkpoint), so two chains never mix their nodes. */
export const dbNameOf = (c: BootstrapInfo) =>
  `rootsync-${c.chainId}-${(c.genesisHash || c.checkpoint.hash).slice(2, 10)}`

export function createRootsyncClient(): RootsyncClient {
  const listeners = new Set<(m: ClientEvent) => void>()
  const pending = new Map<number, { msg: ToWorker; resolve(a: never): void; reject(e: Error): void }>()
  let nextId = 1
  let worker: Worker | null = null
  let config: BootstrapInfo | null = null
  let bridge: { close(): Promise<void> } | null = null

  const emit = (m: ClientEvent) => {
    for (const l of listeners) l(m)
  }
  const send = (m: ToWorker, transfer: Transferable[] = []) => worker?.postMessage(m, transfer)

  /** A worker not yet started: created early so its code loads while the config is fetched. */
  let spare: Worker | null = null
  const newWorker = () =>
    new Worker(new URL('../worker/sync-worker.ts', import.meta.url), {
      type: 'module',
      name: 'rootsync-sync',
    })
  spare = newWorker()

  function spawn(c: BootstrapInfo) {
    worker = spare ?? newWorker()
    spare = null
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data
      if (m.type === 'account' || m.type === 'storage' || m.type === 'read-error') {
        const p = pending.get(m.id)
        pending.delete(m.id)
        if (m.type === 'read-error') p?.reject(new ReadError(m.code, m.message))
        else p?.resolve(m.answer as never)
      }
      emit(m)
    }
    worker.onerror = (e) =>
      emit({ type: 'error', code: 'WORKER_CRASHED', message: e.message || 'the sync worker stopped' })
    send({ type: 'start', bootstrap: c, dbName: dbNameOf(c) })
    void bridgeWebRtc(c, worker)
  }

  /**
   * Peers the worker cannot reach itself (WebRTC-direct only: no WebSocket address) are dialled here
   * on the page and bridged in. WebSockets are preferred where both exist: they cost the page nothing.
   * The bridge and libp2p load lazily, only when such a peer is configured.
   */
  async function bridgeWebRtc(c: BootstrapInfo, w: Worker) {
    const webrtcOnly = c.peers.filter(
      (p) =>
        !p.addrs.some((a) => /\/wss?(\/|$)/.test(a)) && p.addrs.some((a) => a.includes('/webrtc-direct/')),
    )
    if (!webrtcOnly.length) return
    try {
      const { bridgeWebRtcPeers } = await import('../page/webrtc-bridge.ts')
      if (worker !== w) return
      const b = await bridgeWebRtcPeers(webrtcOnly, w, {
        allowLocal: true,
        onEvent: (e) => emit({ type: 'webrtc', peerId: e.peerId, event: e.type, message: e.message }),
      })
      if (worker === w) bridge = b
      else await b.close()
    } catch (e) {
      emit({ type: 'webrtc', peerId: '*', event: 'failed', message: (e as Error).message })
    }
  }

  function read<T>(m: ToWorker & { id: number }): Promise<T> {
    if (!worker) return Promise.reject(new ReadError('NOT_STARTED', 'start() the client first'))
    return new Promise<T>((resolve, reject) => {
      pending.set(m.id, { msg: m, resolve: resolve as (a: never) => void, reject })
      send(m)
    })
  }

  /**
   * Ends the worker and the page's WebRTC bridge; reads in flight are rejected, or with `keepReads`
   * handed to the next worker.
   */
  async function stop(keepReads = false) {
    const b = bridge
    bridge = null
    worker?.terminate()
    worker = null
    if (!keepReads) {
      for (const p of pending.values()) p.reject(new ReadError('STOPPED', 'the client was stopped'))
      pending.clear()
    }
    await b?.close()
  }

  return {
    get dbName() {
      return config && dbNameOf(config)
    },
    start(c) {
      // Started again with another configuration: the running worker gives way, and reads in
      // flight are asked again of the new one.
      if (worker) void stop(true)
      config = c
      spawn(c)
      for (const p of pending.values()) send(p.msg)
    },
    getAccount: (address) => read({ type: 'getAccount', id: nextId++, address }),
    getStorage: (address, slot) => read({ type: 'getStorage', id: nextId++, address, slot }),
    subscribe(l) {
      listeners.add(l)
      return () => listeners.delete(l)
    },
    retry: () => send({ type: 'retry' }),
    async clearData() {
      if (!config) return
      await stop()
      const name = dbNameOf(config)
      await new Promise<void>((resolve, reject) => {
        const r = indexedDB.deleteDatabase(name)
        r.onsuccess = () => resolve()
        r.onerror = () => reject(new Error(`could not delete ${name}: ${r.error?.message}`))
        r.onblocked = () => reject(new Error(`${name} is still open in another tab; close it and try again`))
      })
      spawn(config)
    },
    close() {
      spare?.terminate()
      spare = null
      void stop()
    },
  }
}
