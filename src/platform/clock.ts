/** The real clock for the platforms (worker, page, Node): core receives it as its `Clock` port. */
import type { Clock } from '../core/clock.ts'

export const realClock: Clock = {
  now: () => Date.now(),
  wallMs: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms)
    return () => clearTimeout(t)
  },
}
