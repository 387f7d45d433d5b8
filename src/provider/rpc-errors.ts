/**
 * The provider's errors: EIP-1193 `ProviderRpcError`s, with the numeric `code` every dApp library
 * switches on, a message for people and `data` for machines. The codes and when each is used are
 * tabled in eip1193.ts's doc comment; `rpcErrorOf` is the one place a light-client failure becomes
 * one of them (by the failure's `code`, never by its message).
 *
 * Why not RootsyncError: EIP-1193 requires a numeric `code`, RootsyncError's is a string. The light
 * client's own string code travels in `data.code` instead.
 */

/** The numeric codes this provider answers with (EIP-1193, EIP-1474, and rootsync's own). */
export const RPC_CODE = {
  /** JSON-RPC: the request is not `{ method: string, params? }`. */
  INVALID_REQUEST: -32600,
  /** JSON-RPC: the params do not validate (a bad address, slot, block tag, flag…). */
  INVALID_PARAMS: -32602,
  /** JSON-RPC: a failure the provider did not expect (a bug): `data.reason` says what. */
  INTERNAL: -32603,
  /** rootsync: no answer could be verified; `data: { code, reason }` carries the light client's code. */
  UNVERIFIED: -32050,
  /** EIP-1193: the method is not supported by this provider. */
  UNSUPPORTED_METHOD: 4200,
  /** EIP-1193: disconnected from every chain (not started, stopped, closed, or the provider was aborted). */
  DISCONNECTED: 4900,
  /** EIP-1193: not connected to the chain yet (started, but no header is verified yet). */
  CHAIN_DISCONNECTED: 4901,
} as const

/** EIP-1193's error: `code` (numeric), `message`, `data`. */
export class ProviderRpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message)
    this.name = 'ProviderRpcError'
  }
}

export const invalidParams = (message: string) => new ProviderRpcError(RPC_CODE.INVALID_PARAMS, message)

export const disconnected = (why: string) =>
  new ProviderRpcError(RPC_CODE.DISCONNECTED, `rootsync provider is disconnected: ${why}`)

export const chainDisconnected = () =>
  new ProviderRpcError(
    RPC_CODE.CHAIN_DISCONNECTED,
    'rootsync has not verified a header of the chain yet: wait for the `connect` event',
  )

/** The light client's codes that mean "no longer running" (a closed or stopped client). */
const GONE = new Set(['NOT_STARTED', 'STOPPED', 'READ_CANCELLED'])

/** The light client's codes that mean "nothing is verified yet" (the client's, and core's). */
const NOT_YET = new Set(['NO_VERIFIED_HEADER', 'NO_VERIFIED_HEAD'])

/** The light client's codes that mean the request itself was malformed (the worker's own check). */
const BAD_INPUT = new Set(['INPUT_INVALID'])

/**
 * The provider's error for a light-client failure: a lifecycle code → 4900/4901, refused input →
 * -32602, any other coded failure (NO_VALID_PROOF, NO_VALID_CODE, EQUIVOCATION_HALT,
 * BLOCK_UNAVAILABLE, STATE_UNAVAILABLE, READ_FAILED…) → UNVERIFIED with `data: { code, reason }`; an error without a
 * code → INTERNAL.
 */
export function rpcErrorOf(e: unknown): ProviderRpcError {
  if (e instanceof ProviderRpcError) return e
  const code = (e as { code?: unknown } | null)?.code
  const reason = e instanceof Error ? e.message : String(e)
  if (typeof code !== 'string') return new ProviderRpcError(RPC_CODE.INTERNAL, reason, { reason })
  if (GONE.has(code)) return new ProviderRpcError(RPC_CODE.DISCONNECTED, reason, { code, reason })
  if (NOT_YET.has(code)) return new ProviderRpcError(RPC_CODE.CHAIN_DISCONNECTED, reason, { code, reason })
  if (BAD_INPUT.has(code)) return new ProviderRpcError(RPC_CODE.INVALID_PARAMS, reason, { code, reason })
  return new ProviderRpcError(RPC_CODE.UNVERIFIED, `no verified answer (${code}): ${reason}`, {
    code,
    reason,
  })
}
