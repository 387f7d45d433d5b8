/**
 * The light client in the worker: the shared driver (src/core/light, `startLightClient`: checkpoint
 * → verified header chain → state sync → follow the head → prune) wired to the worker's ports — the
 * IndexedDB store, the peer registry, the real clock — plus what reads need on top of it (the head,
 * the complete local state, the repair flag).
 *
 * The driver runs as a task: `stop()` stops it cleanly (every store write is an atomic batch, so the
 * store stays consistent) and `start()` runs it again, resuming from the store (warm start: the
 * stored head's signatures are re-checked first).
 *
 * Security considerations: the only root of trust is the configured checkpoint; the driver verifies
 * every header and the engine every node before either is used. Reads are verified against the
 * driver's verified head (verified-reads.ts). A state a read found damaged is flagged for repair
 * (persisted under META.repair) and no longer used as complete. "Verify and repair" is the driver's
 * (a full check, then a recovery that verifies its result before marking it complete); here it only
 * runs one at a time. So do consistency checks (the driver's too: periodic, and "Check now"); a
 * halt that equivocation evidence imposes refuses reads through the driver's `head()`.
 */
import type {
  BootstrapInfo,
  ConsistencyConfig,
  ConsistencyResult,
  EquivocationEvidence,
  LightEvent,
  RecoveryConfig,
  VerifyRepairResult,
} from '../api/worker-protocol.ts'
import { fromHexExact } from '../core/bytes.ts'
import { createRng } from '../core/chain/rng.ts'
import { RootsyncError } from '../core/errors.ts'
import type { ConsistencySettings } from '../core/light/consistency-care.ts'
import { type LightClient as Driver, startLightClient } from '../core/light/follow.ts'
import type { LightOptions, PeerSource } from '../core/light/session.ts'
import type { StateStore } from '../core/store.ts'
import { realClock } from '../platform/clock.ts'
import { tapPeerEvents } from './driver-ports.ts'
import type { PeerRegistry } from './peer-registry.ts'
import type { ProofCache } from './proof-cache.ts'
import type { ReadContext } from './verified-reads.ts'

export interface LightClientDeps {
  config: BootstrapInfo
  store: StateStore
  /** The driver's view of the peers (driver-ports.ts `peerSourceOf`). */
  source: PeerSource
  /** The pool reads ask for proofs. */
  peers: PeerRegistry
  emit: (e: LightEvent) => void
  options?: Partial<LightOptions>
  cache?: ProofCache | null
  /** The recovery strategies in order and their options (default: the driver's). */
  recovery?: RecoveryConfig
  /** Consistency checks: options, watched addresses, a sampling seed (tests); default: every 60 s. */
  consistency?: ConsistencyConfig
}

export interface LightClient extends ReadContext {
  /** Runs the driver (again, after `stop`); no-op while it runs. */
  start(): void
  /** Stops the driver's task; resolves once it has stopped (a `stopped` phase was emitted). */
  stop(reason?: string): Promise<void>
  /** Wakes a run waiting after a failure it does not retry by itself (a full store). */
  retry(): void
  /**
   * The driver's full check of the stored state, then a recovery if it is damaged or incomplete.
   * A call while one runs joins it. Rejects with NOT_STARTED / STOPPED when the driver is not
   * running, and with the driver's `StateRecoveryFailed` when every strategy failed.
   */
  verifyAndRepair(): Promise<VerifyRepairResult>
  /** The driver's consistency check now; rejects like `verifyAndRepair` when it is not running. */
  checkConsistency(): Promise<ConsistencyResult>
  /** Stored results and evidence, and acknowledging evidence (NOT_STARTED before `start`). */
  consistencyResults(): Promise<ConsistencyResult[]>
  evidence(): Promise<EquivocationEvidence[]>
  acknowledgeEvidence(id: string): Promise<void>
}

/** The driver's consistency settings from the page's (plain data: hex addresses, a seed string). */
export function consistencySettings(c: ConsistencyConfig = {}): ConsistencySettings {
  const rng = c.seed === undefined ? null : createRng(c.seed)
  return {
    options: c.options,
    watched: (c.watch ?? []).map((a, i) => fromHexExact(a, 20, `watch[${i}]`)),
    random: rng ? () => rng.u32() / 0x1_0000_0000 : Math.random,
  }
}

export function createLightClient(d: LightClientDeps): LightClient {
  const tap = tapPeerEvents(d.peers)
  /** A head reads get at once: the stored one, or one at the peers' head (as the driver decides). */
  let headReady = false
  const emit = (e: LightEvent) => {
    if (e.type === 'header' && (e.fromStore || e.header.number >= e.peersHead)) headReady = true
    tap(e)
    d.emit(e)
  }
  let driver: Driver | null = null
  let running = false
  /** The verify-and-repair in progress: later requests join it. */
  let verifying: Promise<VerifyRepairResult> | null = null

  function launch(): Driver {
    running = true
    const drv = startLightClient({
      config: d.config,
      store: d.store,
      peers: d.source,
      clock: realClock,
      emit,
      options: d.options,
      recovery: d.recovery,
      consistency: consistencySettings(d.consistency),
    })
    drv.task.done.catch((e: Error & { code?: string }) => {
      running = false
      if (!drv.task.signal.aborted)
        emit({ type: 'error', code: e.code ?? 'LIGHT_FAILED', message: e.message, retryInMs: null })
    })
    return drv
  }

  /** The running driver, or why there is none (the rejection a request gets). */
  function live(what: string): Driver {
    if (!driver) throw new RootsyncError('NOT_STARTED', 'the light client has not been started')
    if (!running) throw new RootsyncError('STOPPED', `the light client is stopped: start it to ${what}`)
    return driver
  }
  /** Stored records need the driver (it verified the evidence), not a running one. */
  function started(): Driver {
    if (!driver) throw new RootsyncError('NOT_STARTED', 'the light client has not been started')
    return driver
  }

  return {
    start() {
      if (driver && running) return
      driver = launch()
    },
    async stop(reason) {
      const drv = driver
      if (!drv || !running) {
        emit({ type: 'phase', phase: 'stopped', detail: 'not running' })
        return
      }
      drv.task.stop(reason)
      await drv.task.done.catch(() => {})
    },
    retry: () => driver?.retry(),
    async verifyAndRepair() {
      const drv = live('verify and repair')
      verifying ??= drv.verifyAndRepair().finally(() => {
        verifying = null
      })
      return verifying
    },
    checkConsistency: async () => live('check consistency').checkConsistency(),
    consistencyResults: async () => started().consistencyResults(),
    evidence: async () => started().evidence(),
    acknowledgeEvidence: async (id) => started().acknowledgeEvidence(id),
    async head(signal) {
      if (!driver) throw new RootsyncError('NOT_STARTED', 'the light client has not been started')
      const h = driver.head()
      if (!signal) return h
      return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason)
        if (signal.aborted) return onAbort()
        signal.addEventListener('abort', onAbort, { once: true })
        h.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
      })
    },
    headReady: () => headReady,
    localState: (root) => driver?.localState(root) ?? null,
    // The driver owns the flag: it persists it, says so, and stops using the state as complete.
    damaged: async (flag) => driver?.markRepair(flag),
    peers: d.peers,
    cache: d.cache ?? null,
  }
}
