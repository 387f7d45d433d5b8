/**
 * EIP-6963 multi-provider discovery (contract stub: issue 13).
 */
import type { RootsyncProvider } from './eip1193.ts'

export interface ProviderInfo {
  uuid: string
  name: string
  /** A data: URI (SVG or PNG), per EIP-6963. */
  icon: string
  rdns: string
}

/** Announces `provider` now and on every `eip6963:requestProvider`; returns a function that stops. */
export function announceProvider(_provider: RootsyncProvider, _info: Partial<ProviderInfo> = {}): () => void {
  throw new Error('announceProvider: not built yet (issue 13, contract commit)')
}
