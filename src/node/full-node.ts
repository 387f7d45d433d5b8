/**
 * The serving full node: a chain in LevelDB, the wire protocol served over libp2p, and optionally a
 * block producer (devnet) or followers of other nodes.
 *
 * Following is done over the protocol only: poll a peer's status, fetch the blocks past our head,
 * verify each (link, validator quorum, state root by re-applying it) and import it atomically.
 * Producing uses the devnet generator and signs with the keys of the validator set in force (which
 * rotates by the devnet's rule, see core/chain/devnet.ts).
 *
 * Retention: the state of the last `retain` blocks is served; older state is pruned by a
 * mark-and-sweep pass (the store's `compact`: mark every node reachable from a retained root with the
 * reachability walk, delete the rest), run under the same lock as block import so a sweep never races
 * a write of the same node.
 */
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeAccount, EMPTY_ROOT } from '../core/account.ts'
import { fromHex, toHex } from '../core/bytes.ts'
import { ChainDB } from '../core/chain/chain-db.ts'
import { type BlockProducer, produceBlock } from '../core/chain/devnet.ts'
import type { Genesis } from '../core/chain/genesis.ts'
import { type Header, headerHash } from '../core/chain/header.ts'
import { StateDB } from '../core/chain/state.ts'
import { accountProof } from '../core/chain/state-proof.ts'
import { MissingNodeError } from '../core/errors.ts'
import { useWasmKeccak } from '../core/hash.ts'
import { ProtocolError, Status, type StatusResponse } from '../core/protocol/messages.ts'
import type { RangeRequest } from '../core/protocol/range.ts'
import { serveRange } from '../core/trie/range-serve.ts'
import { Trie } from '../core/trie/trie.ts'
import { PeerClient } from '../net/client.ts'
import { type ServeBackend, type ServeOptions, serveProtocols } from '../net/server.ts'
import { LevelNodeStore } from '../store/level-store.ts'
import { createServingLibp2p, loadOrCreateKey } from './libp2p.ts'
import type { Logger } from './log.ts'
import { createMetrics, type NodeMetrics } from './metrics.ts'

export interface FullNodeOptions {
  dataDir: string
  genesis?: Genesis
  listen?: string[]
  follow?: string[]
  produce?: { producer: BlockProducer; blockTimeMs: number }
  /** Blocks whose state is served (and kept). */
  retain: number
  /** Run garbage collection every this many blocks (default retain / 2). */
  gcEvery?: number
  metrics?: { host: string; port: number }
  serve?: Partial<ServeOptions>
  log: Logger
  /** Called whenever the head moves. */
  onHead?: (h: Header) => void
  /**
   * Wraps what the wire protocol serves, for tests and instrumentation (e.g. a test peer that
   * corrupts the nodes it sends). Not used by `rootsync serve`.
   */
  wrapBackend?: (b: ServeBackend) => ServeBackend
}

export class FullNode {
  private stopped = false
  private timers: ReturnType<typeof setTimeout>[] = []
  private lock: Promise<unknown> = Promise.resolve()
  private readonly roots = new Map<string, number>() // state root → height, for the retained window
  private lastGc = 0
  private followers: PeerClient[] = []
  private closers: (() => Promise<void>)[] = []
  metricsUrl: string | undefined

  private constructor(
    readonly opts: FullNodeOptions,
    readonly store: LevelNodeStore,
    readonly chain: ChainDB,
    readonly libp2p: Libp2p,
    readonly metrics: NodeMetrics,
  ) {}

  static async start(opts: FullNodeOptions): Promise<FullNode> {
    await useWasmKeccak()
    const store = await LevelNodeStore.open(`${opts.dataDir}/db`)
    let chain: ChainDB
    try {
      chain = await ChainDB.open(store, opts.genesis, `the data directory ${opts.dataDir}`)
    } catch (e) {
      await store.close()
      throw e
    }
    const key = await loadOrCreateKey(`${opts.dataDir}/peer.key`)
    const libp2p = await createServingLibp2p(key, opts.listen)
    const metrics = createMetrics()
    const node = new FullNode(opts, store, chain, libp2p, metrics)
    const head = await chain.head()
    node.lastGc = head.header.number
    for (let n = Math.max(0, head.header.number - opts.retain + 1); n <= head.header.number; n++) {
      const h = await chain.header(n)
      // A state pruned under a smaller retention window is not retained again: its root node is gone
      // (pruning keeps a root node only with its whole state), and the GC's walk would refuse it.
      if (h && (await store.hasNode(h.header.stateRoot))) node.roots.set(toHex(h.header.stateRoot), n)
    }
    metrics.head.set(head.header.number)
    const backend = node.backend()
    await serveProtocols(libp2p, opts.wrapBackend ? opts.wrapBackend(backend) : backend, {
      ...opts.serve,
      onRequest: (e) => {
        metrics.onRequest(e)
        opts.log('debug', 'request', { ...e })
      },
      onStreamError: (e) => {
        metrics.streamErrors.inc({ protocol: e.protocol })
        opts.log('warn', 'stream reset', { protocol: e.protocol, peer: e.peer, error: e.error.message })
      },
    })
    metrics.watchConnections(libp2p)
    if (opts.metrics) {
      const server = await metrics.listen(opts.metrics.host, opts.metrics.port)
      const a = server.address()
      node.metricsUrl =
        typeof a === 'object' && a ? `http://${opts.metrics.host}:${a.port}/metrics` : undefined
      node.closers.push(() => new Promise<void>((r) => server.close(() => r())))
    }
    if (opts.produce) node.schedule(() => node.produceOnce(), opts.produce.blockTimeMs)
    if (opts.follow?.length) {
      node.followers = opts.follow.map((a) => new PeerClient(libp2p, multiaddr(a), { timeoutMs: 10_000 }))
      node.schedule(() => node.followOnce(), 250)
    }
    return node
  }

  get multiaddrs(): string[] {
    return this.libp2p.getMultiaddrs().map((m) => m.toString())
  }

  /** Runs `fn` exclusively with block import, production and GC. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn)
    this.lock = run.catch(() => {})
    return run
  }

  private schedule(fn: () => Promise<void>, everyMs: number): void {
    const tick = async () => {
      if (this.stopped) return
      try {
        await fn()
      } catch (e) {
        this.opts.log('warn', 'background task failed', {
          error: (e as Error).message,
          code: (e as { code?: string }).code,
        })
      }
      if (!this.stopped) this.timers.push(setTimeout(tick, everyMs))
    }
    this.timers.push(setTimeout(tick, everyMs))
  }

  private async newHead(h: Header): Promise<void> {
    this.roots.set(toHex(h.stateRoot), h.number)
    const oldest = h.number - this.opts.retain + 1
    for (const [root, n] of this.roots) if (n < oldest) this.roots.delete(root)
    this.metrics.head.set(h.number)
    this.opts.onHead?.(h)
    const every = this.opts.gcEvery ?? Math.max(1, Math.floor(this.opts.retain / 2))
    if (h.number - this.lastGc >= every) {
      this.lastGc = h.number
      await this.collectGarbage()
    }
  }

  private async produceOnce(): Promise<void> {
    const p = this.opts.produce!
    await this.exclusive(async () => {
      const head = await this.chain.head()
      const state = new StateDB(this.store, head.header.stateRoot)
      const r = await produceBlock(p.producer, state, head.header, Math.floor(Date.now() / 1000))
      const h = await this.chain.commitBlock(r.block, r.commit)
      this.opts.log('info', 'produced block', {
        number: h.number,
        txs: r.block.transactions.length,
        stateRoot: toHex(h.stateRoot),
      })
      await this.newHead(h)
    })
  }

  /** One round of following: the first peer ahead of us gives us its next blocks. */
  private async followOnce(): Promise<void> {
    for (const peer of this.followers) {
      let remote: StatusResponse
      try {
        remote = await peer.status()
      } catch (e) {
        this.opts.log('debug', 'follow: status failed', { peer: peer.id, error: (e as Error).message })
        continue
      }
      if (toHex(remote.genesisHash) !== toHex(this.chain.info.genesisHash)) {
        this.opts.log('warn', 'follow: peer is on another chain', {
          peer: peer.id,
          genesis: toHex(remote.genesisHash),
        })
        continue
      }
      let head = (await this.chain.head()).header.number
      while (remote.headNumber > head && !this.stopped) {
        const blocks = await peer.blocks(head + 1, Math.min(64, remote.headNumber - head))
        if (blocks.length === 0) break
        await this.exclusive(async () => {
          for (const b of blocks) {
            const h = await this.chain.importBlock(b)
            this.opts.log('info', 'imported block', {
              number: h.number,
              from: peer.id,
              stateRoot: toHex(h.stateRoot),
            })
            await this.newHead(h)
          }
        })
        head = (await this.chain.head()).header.number
      }
      return
    }
  }

  /**
   * Deletes every stored node not reachable from a retained state root: the store's compaction, which
   * marks with the one reachability walk (and deletes nothing if a retained state is damaged).
   */
  async collectGarbage(): Promise<{ kept: number; deleted: number; ms: number }> {
    const started = performance.now()
    const roots = [...this.roots.keys()].map((r) => fromHex(r))
    const { kept, dropped } = await this.store.compact(roots)
    const ms = performance.now() - started
    this.opts.log('info', 'pruned old state', {
      kept,
      deleted: dropped,
      ms: Math.round(ms),
      retainedRoots: this.roots.size,
    })
    return { kept, deleted: dropped, ms }
  }

  private backend(): ServeBackend {
    const chain = this.chain
    const store = this.store
    const headNumber = async () => (await chain.head()).header.number
    return {
      status: async () => {
        const head = await chain.head()
        return {
          chainId: chain.info.chainId,
          genesisHash: chain.info.genesisHash,
          headNumber: head.header.number,
          headHash: headerHash(head.header),
          headStateRoot: head.header.stateRoot,
          oldestStateNumber: Math.max(0, head.header.number - this.opts.retain + 1),
        }
      },
      headers: async (start, count) => {
        const end = Math.min(await headNumber(), start + count - 1)
        const out = []
        for (let n = start; n <= end; n++) {
          const h = await chain.header(n)
          if (!h) break
          out.push(h)
        }
        return out
      },
      blocks: async (start, count) => {
        const end = Math.min(await headNumber(), start + count - 1)
        const out = []
        let size = 0
        for (let n = Math.max(1, start); n <= end && size < 2 * 1024 * 1024; n++) {
          const b = await chain.block(n)
          if (!b) break
          out.push(b)
          size += 200 * b.transactions.length
        }
        return out
      },
      // Trie nodes and code blobs live in the same store, keyed by their hash.
      nodes: (hashes, softBytes) => this.blobs(hashes, softBytes),
      code: (hashes, softBytes) => this.blobs(hashes, softBytes),
      root: async (height) => {
        const h = height <= (await headNumber()) ? await chain.header(height) : undefined
        if (!h) throw new ProtocolError(Status.UNAVAILABLE, `no header at height ${height}`)
        return h
      },
      validators: async (height) => {
        const b = await chain.lightBlock(height)
        if (!b) throw new ProtocolError(Status.UNAVAILABLE, `no header at height ${height}`)
        return b
      },
      proof: async (req) => {
        this.checkRetained(req.stateRoot)
        return accountProof(store, req.stateRoot, req.address, req.slots)
      },
      range: (req, maxLeaves) => this.range(req, maxLeaves),
    }
  }

  /** Refuses (`UNAVAILABLE`, never an error the client charges) a state root outside the window. */
  private checkRetained(root: Uint8Array): void {
    if (!this.roots.has(toHex(root)))
      throw new ProtocolError(
        Status.UNAVAILABLE,
        `state root ${toHex(root)} is not in the last ${this.opts.retain} blocks`,
      )
  }

  private async blobs(hashes: Uint8Array[], softBytes: number): Promise<Uint8Array[]> {
    const got = await this.store.getNodes(hashes)
    const out: Uint8Array[] = []
    let size = 0
    for (const b of got) {
      if (size >= softBytes) break
      const v = b ?? new Uint8Array(0)
      out.push(v)
      size += v.length + 3
    }
    return out
  }

  /**
   * A range of the account trie, or of one account's storage trie, at a retained root. An account
   * the state does not have has the empty storage trie (an empty reply with no proof). A node missing
   * meanwhile (pruned by a GC between the check and the read) is `UNAVAILABLE`, as for a pruned root.
   */
  private async range(req: RangeRequest, maxLeaves: number) {
    this.checkRetained(req.root)
    const caps = { maxBytes: req.maxBytes, maxLeaves }
    try {
      let root = req.root
      if (req.account) {
        const leaf = await new Trie(this.store, { root }).get(req.account)
        root = leaf ? decodeAccount(leaf).storageRoot : EMPTY_ROOT
      }
      return await serveRange(this.store, root, req.origin, req.limit, caps)
    } catch (e) {
      if (e instanceof MissingNodeError)
        throw new ProtocolError(Status.UNAVAILABLE, `state at ${toHex(req.root)} is no longer whole here`)
      throw e
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    for (const f of this.followers) f.close()
    await this.lock
    for (const c of this.closers) await c()
    await this.libp2p.stop()
    await this.store.close()
  }
}
