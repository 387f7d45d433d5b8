/**
 * The worker's side of the light-client driver's ports (src/core/light): its peers (the peer
 * registry) as a `PeerSource`, and the driver's events folded back into the peers table (the
 * IndexedDB store is a `StateStore` itself). Wiring only: every decision is the driver's.
 *
 * The configured WebSocket peers are offered to the driver at once, before libp2p has loaded (a
 * return visit loads it only after answering from IndexedDB): their requests wait for the network
 * to be up. So the driver's first status round waits for it instead of reporting "offline".
 *
 * Security considerations: nothing here verifies or trusts anything; the driver verifies headers
 * and the engine every node. The registry only shows what the driver concluded.
 */
import type { LightEvent } from '../api/worker-protocol.ts'
import { RootsyncError } from '../core/errors.ts'
import { type BootstrapConfig, pickAddr } from '../core/light/config.ts'
import type { LightPeer, PeerWire } from '../core/light/peers.ts'
import type { PeerSource } from '../core/light/session.ts'
import type { PeerStats } from '../core/sync/types.ts'
import { keyOf, type PeerRegistry, type RegisteredPeer } from './peer-registry.ts'

/**
 * The registry's peers as the driver's `PeerSource`; `network` resolves once libp2p is up;
 * `onStatus` hears of each status answer (the start-up timing marks).
 */
export function peerSourceOf(
  reg: PeerRegistry,
  config: BootstrapConfig,
  network: () => Promise<void>,
  onStatus: () => void = () => {},
): PeerSource {
  const wireOf = (p: RegisteredPeer): Required<PeerWire> => ({
    status: async (signal) => {
      const s = await reg.status(p, config.chainId, signal)
      onStatus()
      return s
    },
    headers: (start, count, signal) => p.client.headers(start, count, signal),
    nodes: (hashes, signal) => p.client.nodes(hashes, signal),
    proof: (req, signal) => p.client.proof(req, signal),
    blocks: (start, count, signal) => p.client.blocks(start, count, signal),
    root: (height, signal) => p.client.root(height, signal),
    validators: (height, signal) => p.client.validators(height, signal),
    range: (req, signal) => p.client.range(req, signal),
    code: (hashes, signal) => p.client.code(hashes, signal),
  })
  /** A configured WebSocket peer whose connection is not set up yet: each request waits for it. */
  const deferred = (key: string): PeerWire => {
    const wire = async () => {
      await network()
      const p = reg.get(key)
      if (!p) throw new RootsyncError('PEER_UNAVAILABLE', `${key} could not be set up`)
      return wireOf(p)
    }
    return {
      status: async (signal) => (await wire()).status(signal),
      headers: async (start, count, signal) => (await wire()).headers(start, count, signal),
      nodes: async (hashes, signal) => (await wire()).nodes(hashes, signal),
      proof: async (req, signal) => (await wire()).proof(req, signal),
      blocks: async (start, count, signal) => (await wire()).blocks(start, count, signal),
      root: async (height, signal) => (await wire()).root(height, signal),
      validators: async (height, signal) => (await wire()).validators(height, signal),
      range: async (req, signal) => (await wire()).range(req, signal),
      code: async (hashes, signal) => (await wire()).code(hashes, signal),
    }
  }
  const configured = config.peers
    .filter((p) => pickAddr(p, 'websocket'))
    .map((p) => keyOf(p.peerId, 'websocket'))
  const usable = (p: RegisteredPeer) => p.view.state !== 'closed' && !p.view.banned
  return {
    list() {
      const out = new Map<string, LightPeer>()
      for (const key of configured) if (!reg.get(key)) out.set(key, { id: key, wire: deferred(key) })
      for (const p of reg.all()) if (usable(p)) out.set(p.key, { id: p.key, wire: wireOf(p) })
      return [...out.values()]
    },
    onJoin: (fn) =>
      reg.onAdd((p) => {
        // A configured peer was offered already (deferred); others (WebRTC) join now.
        if (!configured.includes(p.key) || p.view.transport !== 'websocket')
          fn({ id: p.key, wire: wireOf(p) })
      }),
    // A bridged WebRTC connection that closes leaves the running sync (it rejoins if it comes back).
    onLeave: (fn) => reg.onClose(fn),
  }
}

/**
 * Folds the driver's events into the peers table: the engine's per-peer stats while a sync runs
 * (final at its end, or when it fails or stops), and the driver's charges and bans.
 */
export function tapPeerEvents(reg: PeerRegistry): (e: LightEvent) => void {
  let round: PeerStats[] | null = null
  const settle = () => {
    if (round) reg.sync(round, true)
    round = null
  }
  return (e) => {
    switch (e.type) {
      case 'progress':
      case 'stall':
        round = e.progress.peers
        reg.sync(round, false)
        break
      case 'done':
        round = e.progress.peers
        settle()
        break
      case 'error':
        settle()
        break
      case 'phase':
        if (e.phase === 'stopped' || e.phase === 'syncing') settle()
        break
      case 'peer-charged': {
        const p = reg.get(e.peer)
        if (!p) break
        if (e.kind === 'banned') reg.ban(p, e.reason)
        else reg.charge(p, e.kind, e.reason)
        break
      }
    }
  }
}
