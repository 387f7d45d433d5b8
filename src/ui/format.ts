/** Display helpers: wei as ether, byte sizes, durations, short hashes, recovery labels. */
import type { AttemptReport, RecoveryCause, StrategyName } from '../api/worker-protocol.ts'

export function ether(wei: string): string {
  const w = BigInt(wei)
  const whole = w / 10n ** 18n
  const frac = (w % 10n ** 18n).toString().padStart(18, '0').replace(/0+$/, '')
  return `${whole}${frac ? `.${frac}` : ''} ETH`
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export function seconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—'
  if (s < 60) return `${Math.ceil(s)} s`
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
}

export const short = (h: string) => (h.length > 18 ? `${h.slice(0, 10)}…${h.slice(-6)}` : h)

// One formatter: toLocaleString builds a new one per call, which the peers table paid several times
// a second during a sync (profiled).
const integer = new Intl.NumberFormat('en-US')
export const count = (n: number) => integer.format(n)

/** A duration in milliseconds: "850 ms", "12.3 s". */
export const millis = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`)

/** Why a recovery ran, for people (the Recovery panel). */
export const CAUSE_LABELS: Record<RecoveryCause, string> = {
  'startup-check': 'the start-up check of the stored state found damage',
  'read-damage': 'a lookup met a missing or corrupt node',
  'repair-flag': 'the stored state was flagged for repair',
  consistency: 'the consistency check against peers found the local state wrong',
  user: 'requested with "Verify and repair"',
  cli: 'requested from the command line (rootsync recover)',
}

export const STRATEGY_LABELS: Record<StrategyName, string> = {
  local: 'Local snapshot',
  peer: 'Peer state sync',
  replay: 'Block replay',
  snapshot: 'Network snapshot',
}

export const OUTCOME_LABELS: Record<AttemptReport['outcome'], string> = {
  recovered: 'Recovered',
  'not-applicable': 'Not applicable',
  failed: 'Failed',
}
