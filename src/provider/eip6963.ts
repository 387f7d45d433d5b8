/**
 * EIP-6963 multi-provider discovery: the page learns of rootsync's provider by an
 * `eip6963:announceProvider` event on `window`, sent once at once and again on each
 * `eip6963:requestProvider` (a dApp that loads later asks for it). The event's `detail` is frozen
 * (`{ info, provider }`), `info` too, as EIP-6963 requires.
 *
 * Security considerations: any script on the page can announce a provider under any name, icon and
 * rdns — discovery says what a provider claims to be, not who made it; rootsync's answers are
 * trustworthy because they are verified, not because of this announcement. The `uuid` is random per
 * page load (per call) so it identifies nothing across sessions.
 */
import type { RootsyncProvider } from './eip1193.ts'

export interface ProviderInfo {
  uuid: string
  name: string
  /** A data: URI (SVG or PNG), per EIP-6963. */
  icon: string
  rdns: string
}

/** A small square icon: a root in a circle. */
export const ROOTSYNC_ICON = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#1f6f4a"/><path d="M16 6v12m0 0l-6 8m6-8l6 8m-6-8v9" stroke="#fff" stroke-width="2.5" fill="none" stroke-linecap="round"/></svg>',
)}`

/** Announces `provider` now and on every `eip6963:requestProvider`; returns a function that stops. */
export function announceProvider(provider: RootsyncProvider, info: Partial<ProviderInfo> = {}): () => void {
  const detail = Object.freeze({
    info: Object.freeze({
      uuid: info.uuid ?? crypto.randomUUID(),
      name: info.name ?? 'rootsync',
      icon: info.icon ?? ROOTSYNC_ICON,
      rdns: info.rdns ?? 'org.rootsync',
    }),
    provider,
  })
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }))
  window.addEventListener('eip6963:requestProvider', announce)
  announce()
  return () => window.removeEventListener('eip6963:requestProvider', announce)
}
