/**
 * An EIP-1193 provider backed by the light client's verified reads (contract stub: issue 13).
 */
import type { LightClient } from '../client/light-client.ts'

export interface RequestArguments {
  readonly method: string
  readonly params?: readonly unknown[] | object
}

/** EIP-1193 `ProviderRpcError`: numeric `code`, a message for people, `data` with the reason. */
export interface ProviderRpcError extends Error {
  code: number
  data?: unknown
}

export interface RootsyncProvider {
  request(args: RequestArguments): Promise<unknown>
  on(
    event: 'connect' | 'disconnect' | 'chainChanged' | 'message',
    listener: (arg: never) => void,
  ): RootsyncProvider
  removeListener(event: string, listener: (arg: never) => void): RootsyncProvider
  /** Marks this as rootsync's provider (wallet libraries look for such flags). */
  readonly isRootsync: true
}

export interface ProviderOptions {
  /** Aborts every request in flight and refuses new ones (4900) once aborted. */
  signal?: AbortSignal
}

export function createEip1193Provider(_client: LightClient, _opts: ProviderOptions = {}): RootsyncProvider {
  throw new Error('createEip1193Provider: not built yet (issue 13, contract commit)')
}
