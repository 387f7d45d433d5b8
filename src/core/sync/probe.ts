/**
 * The probe for the target root: every peer is asked for the root node before it gets work, and
 * joins the run only if it returns exactly that node. Work starts with the FIRST peer that does;
 * the other probes go on, and each of those peers joins (or is recorded as refused, with why: empty,
 * wrong root, timeout, error) as it answers — a silent peer delays nothing. Peers offered later go
 * through the same probe; a peer that left and comes back under the same id rejoins without one.
 *
 * Security considerations: the root node is accepted only if its keccak equals the trusted root;
 * a peer that cannot show it never gets work, and is named in the run's summary.
 */
import { equals } from '../bytes.ts'
import { type Clock, timeoutSignal } from '../clock.ts'
import { keccak256 } from '../hash.ts'
import { failureKind } from '../peers/failure.ts'
import type { PeerScheduler, RefusalKind } from '../peers/scheduler.ts'
import { NoPeersWithTargetState, SyncAbortedError } from './errors.ts'
import type { SyncEvent, SyncPeer } from './types.ts'

export class RootProbe {
  /** Probes not yet answered. */
  probing = 0
  private rootBytes: Uint8Array | null = null
  private found: ((bytes: Uint8Array) => void) | null = null
  private notFound: ((e: Error) => void) | null = null
  private ended = false
  /** Probes still out: the cancel that ends each, and whom it asks. */
  private readonly out = new Map<() => void, string>()
  /** Aborted when the run ends: a probe still out is cancelled on the wire too, not left open. */
  private readonly requests = new AbortController()

  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    private readonly root: Uint8Array,
    private readonly rootKey: string,
    private readonly sched: PeerScheduler<SyncPeer>,
    private readonly signal: AbortSignal,
    private readonly emit: (e: SyncEvent) => void,
    /** A peer joined or was refused: the run loop should look. */
    private readonly poke: () => void,
  ) {
    signal.addEventListener(
      'abort',
      () => {
        this.requests.abort(signal.reason)
        this.notFound?.(new SyncAbortedError())
      },
      { once: true },
    )
  }

  /**
   * Probes `peers`; resolves with the root node from the first that returns it verified, or rejects
   * with `NoPeersWithTargetState` (naming each peer and why) once every probe failed.
   */
  first(peers: SyncPeer[]): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.signal.aborted) return reject(new SyncAbortedError())
      this.found = resolve
      this.notFound = reject
      for (const p of peers) this.offer(p)
      if (this.rootBytes) resolve(this.rootBytes)
      else this.settled()
    }).finally(() => {
      this.found = null
      this.notFound = null
    })
  }

  /** A peer to probe (or, if it left earlier, to take back). */
  offer(peer: SyncPeer): void {
    void this.probe(peer)
  }

  /** The run is over: probes still out are cancelled, and their peers recorded as not answering. */
  end(): void {
    this.ended = true
    for (const [cancel, id] of [...this.out]) {
      cancel()
      this.sched.refuse(id, 'timeout', 'had not answered the probe when the sync ended')
    }
    this.requests.abort(new SyncAbortedError('run ended'))
  }

  private async probe(peer: SyncPeer): Promise<void> {
    if (this.ended) return
    const standing = this.sched.standing(peer.id)
    // A reconnect (it proved the root already): it rejoins, or its new connection replaces the old.
    if (standing === 'left' || standing === 'active') return this.join(peer)
    if (standing !== null && standing !== 'refused') return // banned or rotated out
    if ([...this.out.values()].includes(peer.id)) return // being probed
    this.probing++
    const t0 = this.clock.now()
    try {
      const [b] = await this.ask(peer)
      if (this.ended || this.signal.aborted) return
      if (!b || b.length === 0) this.refuse(peer.id, 'empty', 'does not have the target root')
      else if (!equals(keccak256(b), this.root))
        this.refuse(peer.id, 'wrong-root', 'answered with a node that is not the target root')
      else {
        this.join(peer, this.clock.now() - t0)
        if (!this.rootBytes) {
          this.rootBytes = b
          this.found?.(b)
        }
      }
    } catch (e) {
      if (this.ended || this.signal.aborted) return
      const kind = failureKind(e)
      this.refuse(peer.id, kind === 'timeout' ? 'timeout' : 'error', (e as Error).message ?? String(e))
    } finally {
      this.probing--
      this.settled()
      this.poke()
    }
  }

  /** The root node from `peer`, within the timeout (abort honoured or not), cancelled by `end()`. */
  private ask(peer: SyncPeer): Promise<Uint8Array[]> {
    const { signal, clear } = timeoutSignal(this.clock, this.requests.signal, this.timeoutMs)
    return new Promise<Uint8Array[]>((resolve, reject) => {
      const cancel = () => {
        clear()
        this.out.delete(cancel)
        reject(new SyncAbortedError('run ended'))
      }
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      this.out.set(cancel, peer.id)
      Promise.resolve()
        .then(() => peer.getNodes([this.root], signal))
        .then(resolve, reject)
        .finally(() => {
          clear()
          this.out.delete(cancel)
        })
    })
  }

  /** No peer returned the root and none is still being asked: the sync cannot start. */
  private settled(): void {
    if (this.rootBytes || this.probing > 0 || !this.notFound) return
    const summary = this.sched.summary()
    const reasons = summary
      .filter((p) => p.outcome === 'refused')
      .map((p) => ({ peer: p.id, reason: p.reason ?? 'refused' }))
    this.notFound(new NoPeersWithTargetState(this.rootKey, reasons, summary))
  }

  private join(peer: SyncPeer, rttMs?: number): void {
    const r = this.sched.join(peer, rttMs)
    if (r === 'joined' || r === 'rejoined')
      this.emit({ type: 'peer-joined', peer: peer.id, rejoined: r === 'rejoined' })
    this.poke()
  }

  private refuse(id: string, kind: RefusalKind, reason: string): void {
    this.sched.refuse(id, kind, reason)
    this.emit({ type: 'peer-refused', peer: id, reason })
  }
}
