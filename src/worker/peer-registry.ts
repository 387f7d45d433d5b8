/**
 * The worker's peers, whatever their transport: WebSocket peers the worker dials itself, WebRTC
 * peers the page bridges in. It keeps what the peers table shows over the whole session (round
 * trip, nodes served, failures, bad replies, score, banned and why) and the pool reads ask for
 * proofs. The light-client driver asks peers through it (driver-ports.ts): each status answer
 * updates a peer's row, and the driver's verdicts (the engine's stats, charges, bans) are folded in.
 *
 * Security considerations: counters come from the sync engine's verdicts (a node counts as served
 * only once its hash checked out; a bad reply is one that provably did not match what was asked).
 * A peer the engine banned stays banned for the session: it is not given another sync round or any
 * proof request.
 */
import type { PeerView, Transport } from '../api/worker-protocol.ts'
import type { StatusResponse } from '../core/protocol/messages.ts'
import type { PeerStats } from '../core/sync/types.ts'
import type { WireClient } from '../net/wire-client.ts'

export interface RegisteredPeer {
  key: string
  client: WireClient
  view: PeerView
  /** Totals from finished sync rounds; the running round's stats are added on top. */
  base: Pick<PeerStats, 'delivered' | 'bytes' | 'missing' | 'bad' | 'timeouts' | 'errors'>
  current: PeerStats | null
  status: StatusResponse | null
}

export interface PeerRegistry {
  add(p: {
    peerId: string
    name: string
    transport: Transport
    addr: string
    client: WireClient
  }): RegisteredPeer
  /** The connection is gone (a bridged WebRTC peer closed): never used again. */
  close(key: string): void
  /**
   * Asks one peer for its status and shows the answer in its row: connected when on `chainId`.
   * Rejects with the transport's error (the caller charges it).
   */
  status(p: RegisteredPeer, chainId: number, signal?: AbortSignal): Promise<StatusResponse>
  get(key: string): RegisteredPeer | undefined
  /** Every peer ever added (closed ones too), in the order added. */
  all(): RegisteredPeer[]
  /** Peers that can be asked for data now: connected, not banned, not closed. */
  usable(): RegisteredPeer[]
  /** Calls `fn` for each peer that becomes connected from now on; returns the unsubscribe. */
  onJoin(fn: (p: RegisteredPeer) => void): () => void
  /** Calls `fn` for each peer added (or re-added after closing) from now on; returns the unsubscribe. */
  onAdd(fn: (p: RegisteredPeer) => void): () => void
  /** Calls `fn` with the key of each peer whose connection closes from now on; returns the unsubscribe. */
  onClose(fn: (key: string) => void): () => void
  /** Folds the engine's per-round stats in (`final`: the round ended). */
  sync(stats: PeerStats[], final: boolean): void
  /** A proof or header request failed or was provably wrong. */
  charge(p: RegisteredPeer, kind: 'failure' | 'bad', why: string): void
  /** Never use this peer again this session (it served headers that do not verify, say). */
  ban(p: RegisteredPeer, why: string): void
  views(): PeerView[]
}

export const keyOf = (peerId: string, transport: Transport) => `${transport}:${peerId}`

/** 0–100: the share of asked-for items served, with bad replies and failures weighing more. */
export function peerScore(s: RegisteredPeer['base'], banned: string | null): number {
  if (banned) return 0
  const cost = s.missing + 5 * (s.timeouts + s.errors) + 20 * s.bad
  return Math.round((100 * (s.delivered + 1)) / (s.delivered + 1 + cost))
}

export function createPeerRegistry(onChange: (views: PeerView[]) => void): PeerRegistry {
  const peers = new Map<string, RegisteredPeer>()
  const joiners = new Set<(p: RegisteredPeer) => void>()
  const adders = new Set<(p: RegisteredPeer) => void>()
  const closers = new Set<(key: string) => void>()
  let scheduled = false
  const changed = () => {
    if (scheduled) return
    scheduled = true
    queueMicrotask(() => {
      scheduled = false
      onChange(reg.views())
    })
  }
  const total = (p: RegisteredPeer) => {
    const c = p.current
    return {
      delivered: p.base.delivered + (c?.delivered ?? 0),
      bytes: p.base.bytes + (c?.bytes ?? 0),
      missing: p.base.missing + (c?.missing ?? 0),
      bad: p.base.bad + (c?.bad ?? 0),
      timeouts: p.base.timeouts + (c?.timeouts ?? 0),
      errors: p.base.errors + (c?.errors ?? 0),
    }
  }
  const updateView = (p: RegisteredPeer) => {
    const t = total(p)
    Object.assign(p.view, {
      nodesServed: t.delivered,
      bytesServed: t.bytes,
      failures: t.missing + t.timeouts + t.errors,
      bad: t.bad,
      score: peerScore(t, p.view.banned),
    })
    if (p.current?.rttMs) p.view.rttMs = Math.round(p.current.rttMs)
  }
  const live = (p: RegisteredPeer) => p.view.state !== 'closed' && !p.view.banned

  const reg: PeerRegistry = {
    add({ peerId, name, transport, addr, client }) {
      const key = keyOf(peerId, transport)
      const old = peers.get(key)
      if (old && old.view.state !== 'closed') return old
      // A peer that reconnects keeps its session totals, and stays banned if it was.
      const p: RegisteredPeer = {
        key,
        client,
        base: old ? total(old) : { delivered: 0, bytes: 0, missing: 0, bad: 0, timeouts: 0, errors: 0 },
        current: null,
        status: null,
        view: {
          id: peerId,
          name,
          transport,
          addr,
          state: 'connecting',
          rttMs: null,
          nodesServed: 0,
          bytesServed: 0,
          failures: 0,
          bad: 0,
          score: 100,
          banned: old?.view.banned ?? null,
          error: null,
        },
      }
      updateView(p)
      peers.set(key, p)
      changed()
      for (const f of adders) f(p)
      return p
    },
    close(key) {
      const p = peers.get(key)
      if (!p) return
      p.view.state = 'closed'
      p.client.close()
      changed()
      for (const f of closers) f(key)
    },
    async status(p, chainId, signal) {
      const t = performance.now()
      try {
        const status = await p.client.status(signal)
        p.view.rttMs = Math.round(performance.now() - t)
        p.status = status
        if (status.chainId !== chainId) {
          p.view.state = 'wrong-chain'
          p.view.error = `on chain ${status.chainId}, not ${chainId}`
          return status
        }
        const joined = p.view.state !== 'connected'
        p.view.state = 'connected'
        p.view.error = null
        if (joined && live(p)) for (const j of joiners) j(p)
        return status
      } catch (e) {
        if (p.view.state !== 'closed') p.view.state = 'unreachable'
        p.view.error = (e as Error).message
        throw e
      } finally {
        changed()
      }
    },
    get: (key) => peers.get(key),
    all: () => [...peers.values()],
    usable: () => [...peers.values()].filter((p) => live(p) && p.view.state === 'connected'),
    onJoin(fn) {
      joiners.add(fn)
      return () => joiners.delete(fn)
    },
    onAdd(fn) {
      adders.add(fn)
      return () => adders.delete(fn)
    },
    onClose(fn) {
      closers.add(fn)
      return () => closers.delete(fn)
    },
    sync(stats, final) {
      for (const s of stats) {
        const p = peers.get(s.id)
        if (!p) continue
        p.current = s
        if (s.banned && !p.view.banned) p.view.banned = s.banned
        updateView(p)
        if (final) {
          Object.assign(p.base, total(p))
          p.current = null
        }
      }
      changed()
    },
    charge(p, kind, why) {
      if (kind === 'bad') p.base.bad++
      else p.base.errors++
      p.view.error = why
      updateView(p)
      changed()
    },
    ban(p, why) {
      p.view.banned ??= why
      p.base.bad++
      updateView(p)
      changed()
    },
    views: () => [...peers.values()].map((p) => ({ ...p.view })),
  }
  return reg
}
