/**
 * Time as a port. Core logic never touches `setTimeout` or `Date.now()`: whatever waits, times out,
 * backs off or detects a stall asks a `Clock`, so every such decision can be tested with
 * `manualClock()` — fast and deterministic — and the platforms pass the real one
 * (src/platform/clock.ts).
 */
import { RootsyncError } from './errors.ts'

export interface Clock {
  /** Milliseconds (any epoch; only differences matter). */
  now(): number
  /**
   * Wall-clock milliseconds since the Unix epoch: only for comparing with chain time (the trusting
   * period, headers from the future). Never for measuring durations (`now` is for that).
   */
  wallMs(): number
  /** Calls `fn` once after `ms`; returns a function that cancels it (idempotent). */
  setTimer(ms: number, fn: () => void): () => void
}

/** Resolves after `ms`, or rejects with the signal's reason once `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal))
    const onAbort = () => {
      cancel()
      reject(abortReason(signal!))
    }
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    })
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** A DOMException named TimeoutError: what `timeoutSignal` aborts with. */
export function timeoutError(ms: number): DOMException {
  return new DOMException(`timed out after ${ms} ms`, 'TimeoutError')
}

/**
 * A signal that aborts when `parent` does or after `ms`, with a `TimeoutError` reason. Call `clear()`
 * when done. (Built on an AbortController and the clock rather than `AbortSignal.timeout`: in Node 20
 * a timeout signal only weakly held inside `AbortSignal.any` can be collected before it fires.)
 */
export function timeoutSignal(
  clock: Clock,
  parent: AbortSignal | undefined,
  ms: number,
): { signal: AbortSignal; clear: () => void } {
  const ac = new AbortController()
  const onAbort = () => ac.abort(parent?.reason)
  if (parent?.aborted) ac.abort(parent.reason)
  else parent?.addEventListener('abort', onAbort, { once: true })
  const cancel = clock.setTimer(ms, () => ac.abort(timeoutError(ms)))
  return {
    signal: ac.signal,
    clear: () => {
      cancel()
      parent?.removeEventListener('abort', onAbort)
    },
  }
}

export class AbortedError extends RootsyncError {
  constructor(what = 'operation') {
    super('ABORTED', `${what} aborted`)
    this.name = 'AbortedError'
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new AbortedError()
}

/** A clock that moves only when told: `advance(ms)` runs every timer that falls due, in order. */
export interface ManualClock extends Clock {
  advance(ms: number): void
  /** Timers not yet fired. */
  pending(): number
}

/** A manual clock's wall time at start: one day after the devnet's default genesis time (1.7e9 s). */
export const MANUAL_WALL_START_MS = 1_700_000_000_000 + 86_400_000

/** `wallStartMs`: the wall clock at start; `advance` moves it along with `now`. */
export function manualClock(start = 0, wallStartMs = MANUAL_WALL_START_MS): ManualClock {
  let t = start
  let seq = 0
  const timers = new Map<number, { at: number; fn: () => void }>()
  return {
    now: () => t,
    wallMs: () => wallStartMs + (t - start),
    setTimer(ms, fn) {
      const id = seq++
      timers.set(id, { at: t + Math.max(0, ms), fn })
      return () => void timers.delete(id)
    },
    advance(ms) {
      const end = t + ms
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | null = null
        for (const e of timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e
        if (!next) break
        timers.delete(next[0])
        t = next[1].at
        next[1].fn()
      }
      t = end
    },
    pending: () => timers.size,
  }
}
