/**
 * A light-client session: the state both drivers share (the one-shot sync of `rootsync sync` and the
 * following client of the worker) — the checkpoint, the peer ledger, the newest verified head — and
 * its two protocol steps: a status round, and verifying a head from there.
 *
 * Security considerations: the newest verified head is written to the store WITH its quorum
 * signatures, its validator sets and the trust path from the checkpoint's block to it (trust.ts),
 * so the next session can re-check all of it instead of trusting it blindly.
 */
import { toHex } from '../bytes.ts'
import type { LightBlock, TrustedHeader } from '../chain/header.ts'
import type { Checkpoint } from '../chain/light.ts'
import type { Clock } from '../clock.ts'
import type { NodeStore } from '../store.ts'
import type { SyncConfig } from '../sync/types.ts'
import { type BootstrapConfig, checkpointOf } from './config.ts'
import type { HeaderView, LightEvent } from './events.ts'
import { skipOptions, verifyHead } from './headers.ts'
import { type Answered, createLedger, type LightPeer, type PeerLedger, statusRound } from './peers.ts'
import type { SkipOptions } from './skipping.ts'
import { type LatePeers, latePeers } from './state-step.ts'
import { headRecords, prunePath } from './trust.ts'

export interface LightOptions {
  /** Deadline of each status, headers and root-probe request. */
  requestTimeoutMs: number
  /** After the first status answer on our chain, how long the other peers get to answer. */
  statusGraceMs: number
  /**
   * The same for the rounds run before any head is trusted (the first answer); `statusGraceMs`
   * when absent. 0: the first peer on our chain that answers is used at once; later ones join (the
   * worker's fast first answer).
   */
  firstStatusGraceMs?: number
  /** Overrides the configuration's trusting period (seconds). */
  trustingPeriodSec?: number
  /** Skipping verification's trust level and clock drift (skipping.ts defaults). */
  skip?: Pick<SkipOptions, 'trustLevel' | 'maxClockDriftSec'>
  /** Following: how often to ask for a newer head once synced. */
  followMs: number
  /** Following: how long a read waits for the peers' head before failing. */
  headWaitMs: number
  /** Following: nodes of older states tolerated beyond the live state's count before pruning. */
  pruneSlack: number
  /** The state engine's configuration (request sizes, in-flight limits). */
  sync?: Partial<SyncConfig>
}

export const DEFAULT_LIGHT_OPTIONS: LightOptions = {
  requestTimeoutMs: 10_000,
  statusGraceMs: 250,
  followMs: 2000,
  headWaitMs: 20_000,
  pruneSlack: 1000,
}

/** Where peers come from: the current list (asked each round), and peers that connect later. */
export interface PeerSource {
  list(): LightPeer[]
  /** Subscribes to peers added later (a WebRTC peer the page bridges in); returns the unsubscribe. */
  onJoin?(fn: (p: LightPeer) => void): () => void
  /**
   * Subscribes to peers whose connection went away (a running sync stops giving them work; a
   * reconnect comes back through `onJoin` and rejoins with its history); returns the unsubscribe.
   */
  onLeave?(fn: (id: string) => void): () => void
}

export interface SessionDeps {
  config: BootstrapConfig
  store: NodeStore
  peers: PeerSource
  clock: Clock
  emit: (e: LightEvent) => void
  options?: Partial<LightOptions>
}

/** What verifying heads has cost this session (the `trust` events summed). */
export interface TrustCost {
  fetched: number
  signatures: number
  bisections: number
  ms: number
}

export const headerView = (h: TrustedHeader): HeaderView => ({
  number: h.header.number,
  hash: toHex(h.hash),
  stateRoot: toHex(h.header.stateRoot),
})

export interface Session {
  readonly cp: Checkpoint
  readonly o: LightOptions
  readonly ledger: PeerLedger
  readonly late: LatePeers
  /** The newest verified head (null before the first). */
  head(): LightBlock | null
  /** The highest head the peers on our chain claimed in the last round. */
  peersHead(): number
  /** Trusts a head verified earlier with its trust path (already re-checked by the caller). */
  seed(h: LightBlock, path: LightBlock[]): void
  /** What verifying heads from the network has cost so far. */
  trustCost(): TrustCost
  /** Asks every peer for its status (first answer + grace); peers on our chain. */
  status(signal: AbortSignal): Promise<Answered[]>
  /** Verifies (and stores) a head at `target` from the newest verified head or the checkpoint. */
  verify(signal: AbortSignal, answered: Answered[], target: number | 'latest'): Promise<LightBlock>
  close(): void
}

export function createSession(d: SessionDeps): Session {
  const cp = checkpointOf(d.config)
  const o = { ...DEFAULT_LIGHT_OPTIONS, ...d.options }
  const ledger = createLedger(d.emit)
  const late = latePeers(ledger)
  if (o.trustingPeriodSec !== undefined) cp.trustingPeriodSec = o.trustingPeriodSec
  let head: LightBlock | null = null
  /** The trust path from the checkpoint's block to `head` (pruned). */
  let path: LightBlock[] = []
  let peersHead = 0
  /** Peers of the newest round that answered after it was decided (verification may use them). */
  let lateOfRound: Answered[] = []
  const cost: TrustCost = { fetched: 0, signatures: 0, bisections: 0, ms: 0 }
  let signalOfRound: AbortSignal | null = null
  // A peer that connects later is asked for its status at once and offered to a running sync.
  const unsubscribeLeave = d.peers.onLeave?.((id) => late.gone(id)) ?? (() => {})
  const unsubscribe =
    d.peers.onJoin?.((p) => {
      if (!signalOfRound || signalOfRound.aborted) return
      void statusRound([p], ledger, d.clock, signalOfRound, {
        chainId: cp.chainId,
        timeoutMs: o.requestTimeoutMs,
        graceMs: 0,
      }).then((got) => {
        for (const a of got) late.add(a)
      })
    }) ?? (() => {})

  return {
    cp,
    o,
    ledger,
    late,
    head: () => head,
    peersHead: () => peersHead,
    seed(h, p) {
      head = h
      path = p
    },
    trustCost: () => ({ ...cost }),
    async status(signal) {
      signalOfRound = signal
      const list = d.peers.list()
      const round: Answered[] = []
      lateOfRound = round
      const answered = await statusRound(list, ledger, d.clock, signal, {
        chainId: cp.chainId,
        timeoutMs: o.requestTimeoutMs,
        graceMs: head ? o.statusGraceMs : (o.firstStatusGraceMs ?? o.statusGraceMs),
        onLate(a) {
          round.push(a)
          late.add(a)
        },
      })
      if (answered.length) peersHead = Math.max(...answered.map((a) => a.status.headNumber))
      // In the configured order (not the order of arrival): among equal heads, the peer listed first
      // is asked first.
      return answered.sort((x, y) => list.indexOf(x.peer) - list.indexOf(y.peer))
    },
    async verify(signal, answered, target) {
      const from = head && (target === 'latest' || head.header.number <= target) ? head : null
      if (!from || from.header.number < peersHead)
        d.emit({
          type: 'phase',
          phase: 'verifying-headers',
          detail: `block ${from?.header.number ?? cp.number} to ${target === 'latest' ? peersHead : target}`,
        })
      const started = d.clock.now()
      const round = lateOfRound
      const ph = { cp, clock: d.clock, signal, ledger, requestTimeoutMs: o.requestTimeoutMs, skip: o.skip }
      const r = await verifyHead(ph, from, () => [...answered, ...round], target)
      const h = r.head
      const ms = d.clock.now() - started
      if (r.stats.fetched || !from || h.header.number !== from.header.number) {
        cost.fetched += r.stats.fetched
        cost.signatures += r.stats.signatures
        cost.bisections += r.stats.bisections
        cost.ms += ms
        d.emit({
          type: 'trust',
          from: r.path[0]!.header.number,
          to: h.header.number,
          ...r.stats,
          ms,
          source: 'network',
        })
      }
      // A head claimed by a peer found lying no longer counts as the peers' head.
      const backed = [...answered, ...round]
        .filter((a) => !ledger.isBanned(a.peer.id))
        .map((a) => a.status.headNumber)
      peersHead = Math.max(h.header.number, ...backed)
      if (!head || h.header.number > head.header.number) {
        // The path continues the stored one when this verification started from the head.
        const extended = head && r.path[0] === head ? [...path, ...r.path.slice(1)] : r.path
        head = h
        path = prunePath(extended, skipOptions(ph).trustLevel)
        await d.store.write({ meta: headRecords(path, cp) })
      }
      return h
    },
    close() {
      unsubscribe()
      unsubscribeLeave()
    },
  }
}
