/**
 * The provider's connection state (EIP-1193 "connected"), as a small state machine driven by the
 * light client's events. It decides which requests are answered and which events the provider emits:
 *
 *   disconnected ──(any phase but stopped/failed)──▶ verifying ──(verified header)──▶ connected
 *        ▲                                                                              │
 *        └──────────────(phase stopped; the client gone; the provider aborted)──────────┘
 *
 * `connect` is emitted on entering `connected` (the first verified header of a run), `disconnect` on
 * leaving `connected` for `disconnected` (a provider never connected has nothing to disconnect),
 * `chainChanged` when a verified header arrives for
 * another chain id than the last one announced (a new start with another configuration).
 *
 * Security considerations: only a verified header connects the provider, so nothing is answered
 * before the light client has verified the chain from its configured checkpoint.
 */
import type { LightPhase } from '../api/worker-protocol.ts'

export type Link = 'disconnected' | 'verifying' | 'connected'

export interface LinkState {
  link: Link
  /** The chain id last announced (`connect` or `chainChanged`), or null before the first. */
  announced: number | null
}

export type LinkInput =
  /** A verified header arrived; `chainId` is the configured chain's id. */
  | { kind: 'header'; chainId: number | null }
  | { kind: 'phase'; phase: LightPhase }
  /** The client is gone: closed (a read said STOPPED/NOT_STARTED), or the provider was aborted. */
  | { kind: 'gone' }

export type LinkOutput =
  | { event: 'connect'; chainId: number }
  | { event: 'chainChanged'; chainId: number }
  | { event: 'disconnect' }

/** The state a provider starts in, from what the client already knows. */
export function initialLink(chainId: number | null, hasHead: boolean): LinkState {
  return {
    link: chainId === null ? 'disconnected' : hasHead ? 'connected' : 'verifying',
    announced: chainId !== null && hasHead ? chainId : null,
  }
}

export function stepLink(s: LinkState, input: LinkInput): { state: LinkState; out: LinkOutput[] } {
  switch (input.kind) {
    case 'header': {
      if (input.chainId === null) return { state: s, out: [] }
      const out: LinkOutput[] = []
      if (s.announced !== null && s.announced !== input.chainId)
        out.push({ event: 'chainChanged', chainId: input.chainId })
      if (s.link !== 'connected') out.push({ event: 'connect', chainId: input.chainId })
      return { state: { link: 'connected', announced: input.chainId }, out }
    }
    case 'phase':
      if (input.phase === 'stopped') return leave(s)
      if (s.link === 'disconnected' && input.phase !== 'failed')
        return { state: { ...s, link: 'verifying' }, out: [] }
      return { state: s, out: [] }
    case 'gone':
      return leave(s)
  }
}

const leave = (s: LinkState) => ({
  state: { ...s, link: 'disconnected' as const },
  out: s.link === 'connected' ? [{ event: 'disconnect' as const }] : [],
})
