/**
 * The following client's consistency checks (core/consistency): a cancellable periodic task (every
 * `intervalMs`; 0: only on demand), "check now", the stored results and evidence, and the halt of
 * reads that equivocation evidence imposes.
 *
 * One check runs at a time (a request while one runs joins it), and never beside a sync step or a
 * recovery: the driver hands its `serially` in, and the check runs as one of its jobs. The check
 * compares the verified head whose state is complete in the store (the driver's `target`); when
 * there is none (still syncing, or the state is flagged for repair) a periodic check is skipped
 * and a requested one is refused (CONSISTENCY_NOT_READY).
 *
 * Security considerations: equivocation evidence halts reads at its height and above until the
 * user acknowledges it; it is never cleared by anything a peer does. Evidence read back from the
 * store is verified again first (both headers name the validator set recorded with them and carry
 * its quorum signatures, records/verifyEvidence): evidence altered on disk, or kept by an older
 * version without its set, halts nothing — it is ignored, and said so (`evidence-ignored` with the
 * error's code). Time comes from the clock port only.
 */
import type { Checkpoint } from '../chain/light.ts'
import { type Clock, sleep } from '../clock.ts'
import { checkConsistency } from '../consistency/check.ts'
import {
  acknowledgeEvidence,
  haltedFrom,
  readEvidence,
  readResults,
  verifyEvidence,
} from '../consistency/records.ts'
import {
  type ConsistencyDeps,
  type ConsistencyEvent,
  type ConsistencyOptions,
  type ConsistencyResult,
  DEFAULT_CONSISTENCY_OPTIONS,
  type EquivocationEvidence,
} from '../consistency/types.ts'
import { RootsyncError } from '../errors.ts'
import type { StateStore } from '../store.ts'
import type { LightEvent } from './events.ts'

/** A read at or above the height of unacknowledged equivocation evidence (`evidence`: its id). */
export class EquivocationHaltError extends RootsyncError {
  constructor(
    readonly height: number,
    readonly evidence: string,
  ) {
    super(
      'EQUIVOCATION_HALT',
      `reads from block ${height} on are halted: validators signed two different headers at ${height} (evidence ${evidence}); acknowledge the evidence or configure a new checkpoint`,
      { height, evidence },
    )
    this.name = 'EquivocationHaltError'
  }
}

/** How the driver runs checks: options over the defaults, watched addresses, the sampling source. */
export interface ConsistencySettings {
  options?: Partial<ConsistencyOptions>
  /** Addresses always checked (20 bytes each). */
  watched?: Uint8Array[]
  /** Uniform in [0, 1) (default Math.random; a seeded one in tests — predictable, so not for use). */
  random?: () => number
}

/** What a check needs from the driver at the moment it starts. */
export type CheckTarget = Pick<ConsistencyDeps, 'header' | 'peers' | 'ledger' | 'recover'>

export type CheckFn = (
  deps: ConsistencyDeps,
  options: ConsistencyOptions,
  signal: AbortSignal,
) => Promise<ConsistencyResult>

export interface ConsistencyCareDeps {
  store: StateStore
  clock: Clock
  checkpoint: Checkpoint
  settings: ConsistencySettings
  emit: (e: LightEvent) => void
  /** The complete verified state to check now, or null (none yet, or flagged for repair). */
  target(): CheckTarget | null
  /** The driver's one-state-job-at-a-time queue. */
  serially<T>(job: () => Promise<T>): Promise<T>
  /** The check itself (default core/consistency/check.ts; a fake in unit tests of this module). */
  check?: CheckFn
}

export interface ConsistencyCare {
  readonly options: ConsistencyOptions
  /** Loads the stored evidence, verifying each again; unacknowledged valid evidence halts reads. */
  load(): Promise<void>
  /** Checks every `intervalMs` until `signal` aborts (rejects with its reason); 0: returns at once. */
  periodic(signal: AbortSignal): Promise<void>
  /** A check now (joins the one running); CONSISTENCY_NOT_READY when there is no complete state. */
  checkNow(signal: AbortSignal): Promise<ConsistencyResult>
  /** The stored results, newest first. */
  results(): Promise<ConsistencyResult[]>
  /** The evidence on record that verifies (acknowledged or not). */
  evidence(): Promise<EquivocationEvidence[]>
  /** Marks evidence `id` acknowledged (stored); reads resume unless other evidence halts them. */
  acknowledge(id: string): Promise<void>
  /** The halt in force: the lowest unacknowledged evidence's height and id, or null. */
  halt(): { height: number; evidence: string } | null
  /** Throws `EquivocationHaltError` when reads at `height` are halted. */
  guard(height: number): void
}

export function consistencyCare(d: ConsistencyCareDeps): ConsistencyCare {
  const { store, clock, emit } = d
  const options: ConsistencyOptions = { ...DEFAULT_CONSISTENCY_OPTIONS, ...d.settings.options }
  const random = d.settings.random ?? Math.random
  const check = d.check ?? checkConsistency
  /** Evidence that verified (loaded from the store, or found by a check this session). */
  let evidence: EquivocationEvidence[] = []
  let halt: { height: number; evidence: string } | null = null
  let loaded: Promise<void> | null = null
  let running: Promise<ConsistencyResult | null> | null = null

  function rehalt(): void {
    const height = haltedFrom(evidence)
    const e = height === null ? null : evidence.find((x) => x.acknowledgedAt === null && x.height === height)
    const next = e ? { height: e.height, evidence: e.id } : null
    if (next?.evidence === halt?.evidence) return
    halt = next
    emit({ type: 'halt', height: next?.height ?? null, evidence: next?.evidence ?? null })
  }

  /** The check's events, forwarded; evidence it found (verified by the check) halts reads at once. */
  function onCheckEvent(e: ConsistencyEvent): void {
    if (e.type === 'equivocation') {
      evidence = [...evidence.filter((x) => x.id !== e.evidence.id), e.evidence]
      emit(e)
      rehalt()
      return
    }
    emit(e)
  }

  async function load(): Promise<void> {
    const valid: EquivocationEvidence[] = []
    for (const e of await readEvidence(store)) {
      try {
        verifyEvidence(d.checkpoint, e)
        valid.push(e)
      } catch (err) {
        const x = err as RootsyncError
        emit({ type: 'evidence-ignored', id: e.id, code: x.code ?? 'EVIDENCE_INVALID', reason: x.message })
      }
    }
    evidence = valid
    rehalt()
  }

  /** One check as a job of the driver's queue; null when there is nothing complete to check. */
  function run(signal: AbortSignal): Promise<ConsistencyResult | null> {
    running ??= d
      .serially(async () => {
        const t = d.target()
        if (!t) return null
        const deps: ConsistencyDeps = {
          ...t,
          store,
          checkpoint: d.checkpoint,
          clock,
          random,
          watched: d.settings.watched ?? [],
          now: () => clock.now(),
          emit: onCheckEvent,
        }
        return check(deps, options, signal)
      })
      .finally(() => {
        running = null
      })
    return running
  }

  const ensureLoaded = () => {
    loaded ??= load()
    return loaded
  }

  return {
    options,
    load: ensureLoaded,
    async periodic(signal) {
      if (!options.intervalMs) return
      for (;;) {
        await sleep(clock, options.intervalMs, signal)
        try {
          await run(signal)
        } catch (e) {
          if (signal.aborted) throw signal.reason
          const err = e as RootsyncError
          emit({
            type: 'error',
            code: err.code ?? 'CONSISTENCY_FAILED',
            message: `consistency check: ${err.message}`,
            retryInMs: options.intervalMs,
          })
        }
      }
    },
    async checkNow(signal) {
      await ensureLoaded()
      const r = await run(signal)
      if (!r)
        throw new RootsyncError(
          'CONSISTENCY_NOT_READY',
          'no complete verified state to check yet: wait for the sync (or the repair) to finish',
        )
      return r
    },
    results: () => readResults(store),
    async evidence() {
      await ensureLoaded()
      return evidence
    },
    async acknowledge(id) {
      await ensureLoaded()
      if (!evidence.some((e) => e.id === id))
        throw new RootsyncError('EVIDENCE_NOT_FOUND', `no evidence ${id} on record`, { id })
      const acked = await acknowledgeEvidence(store, id, clock.now())
      evidence = evidence.map((e) => (e.id === id ? acked : e))
      rehalt()
    },
    halt: () => halt,
    guard(height) {
      if (halt && height >= halt.height) throw new EquivocationHaltError(halt.height, halt.evidence)
    },
  }
}
