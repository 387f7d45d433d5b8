/**
 * What `<rootsync-status>` shows, as a pure function of the light client's events: the phase, the
 * state sync's progress and speed, the newest verified head, and how many peers are connected. The
 * component only renders this; keeping the folding here lets it be reasoned about without a DOM.
 *
 * Security considerations: every field comes from the client's events, and the head only from
 * `header` events, which the worker sends for headers it verified — the element never shows a head a
 * peer merely claimed (`peersHead` is not displayed as verified).
 */
import type { HeaderView, LightPhase } from '../api/worker-protocol.ts'
import type { ClientEvent } from '../client/light-client.ts'

export interface StatusView {
  phase: LightPhase
  /** 0–100, or null before the first progress report. */
  percent: number | null
  nodesPerSecond: number | null
  head: HeaderView | null
  peers: { connected: number; total: number }
  error: string | null
}

export function initialStatus(head: HeaderView | null = null): StatusView {
  return {
    phase: 'starting',
    percent: null,
    nodesPerSecond: null,
    head,
    peers: { connected: 0, total: 0 },
    error: null,
  }
}

/** The view after event `e`; unchanged (the same object) for events it does not show. */
export function foldStatus(s: StatusView, e: ClientEvent): StatusView {
  switch (e.type) {
    case 'phase':
      return { ...s, phase: e.phase, error: e.phase === 'failed' ? s.error : null }
    case 'progress':
    case 'stall':
    case 'done':
      return { ...s, percent: Math.floor(e.progress.percent), nodesPerSecond: e.progress.nodesPerSecond }
    case 'synced':
      return { ...s, percent: 100 }
    case 'header':
      return { ...s, head: e.header }
    case 'peers':
      return {
        ...s,
        peers: { connected: e.peers.filter((p) => p.state === 'connected').length, total: e.peers.length },
      }
    case 'error':
      return { ...s, error: e.message }
    default:
      return s
  }
}

/** People's names for the phases. */
export const PHASE_LABELS: Record<LightPhase, string> = {
  starting: 'Starting',
  connecting: 'Connecting',
  'verifying-headers': 'Verifying headers',
  syncing: 'Syncing',
  synced: 'Synced',
  pruning: 'Pruning',
  offline: 'Offline',
  'needs-repair': 'Needs repair',
  recovering: 'Recovering',
  failed: 'Failed',
  stopped: 'Stopped',
}
