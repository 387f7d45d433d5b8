/**
 * JSON-RPC's hex encodings, both ways: quantities (`0x` + minimal hex digits) out, and the params
 * the provider accepts in — addresses, storage slots, block tags, hashes — validated strictly so a
 * malformed request is refused (-32602, naming the parameter) before the light client sees it.
 */
import { invalidParams } from './rpc-errors.ts'

/** A block the light client can answer at: the verified head, a height, or a block hash. */
export type BlockRef = { tag: 'latest' } | { number: number } | { hash: string }

const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const HASH = /^0x[0-9a-fA-F]{64}$/
const SLOT = /^0x[0-9a-fA-F]{1,64}$/
/** A quantity: `0x0`, or no leading zeros (EIP-1474); up to 2^53 for a block number. */
const QUANTITY = /^0x(0|[1-9a-fA-F][0-9a-fA-F]{0,13})$/

/** A non-negative integer (number, bigint or decimal string) as a JSON-RPC quantity. */
export const quantity = (n: number | bigint | string): string => `0x${BigInt(n).toString(16)}`

/** `n` bytes of zeros, hex. */
export const zeros = (n: number): string => `0x${'00'.repeat(n)}`

export function address(v: unknown, name = 'address'): string {
  if (typeof v !== 'string' || !ADDRESS.test(v))
    throw invalidParams(`${name}: expected 0x followed by 40 hex digits, got ${show(v)}`)
  return v.toLowerCase()
}

export function blockHash(v: unknown, name = 'block hash'): string {
  if (typeof v !== 'string' || !HASH.test(v))
    throw invalidParams(`${name}: expected 0x followed by 64 hex digits, got ${show(v)}`)
  return v.toLowerCase()
}

/** A storage slot (a quantity or 32-byte data), as 32 bytes of hex. */
export function slot(v: unknown, name = 'slot'): string {
  if (typeof v !== 'string' || !SLOT.test(v))
    throw invalidParams(`${name}: expected 0x followed by 1 to 64 hex digits, got ${show(v)}`)
  return `0x${v.slice(2).toLowerCase().padStart(64, '0')}`
}

export function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw invalidParams(`${name}: expected true or false, got ${show(v)}`)
  return v
}

/**
 * A block parameter: `latest` (also `pending`, `safe`, `finalized`: a verified header of this chain
 * is final, and the light client sees no pending block, so all four mean the verified head),
 * `earliest` (block 0), a hex number, or an EIP-1898 object `{ blockNumber }` / `{ blockHash }`.
 * Absent: `latest`.
 */
export function blockRef(v: unknown, name = 'block'): BlockRef {
  if (v === undefined) return { tag: 'latest' }
  if (typeof v === 'string') {
    if (v === 'latest' || v === 'pending' || v === 'safe' || v === 'finalized') return { tag: 'latest' }
    if (v === 'earliest') return { number: 0 }
    if (QUANTITY.test(v)) return { number: Number.parseInt(v.slice(2), 16) }
  } else if (typeof v === 'object' && v !== null) {
    const o = v as { blockNumber?: unknown; blockHash?: unknown }
    if (o.blockHash !== undefined && o.blockNumber === undefined)
      return { hash: blockHash(o.blockHash, `${name}.blockHash`) }
    if (o.blockNumber !== undefined && o.blockHash === undefined) return blockRef(o.blockNumber, name)
  }
  throw invalidParams(
    `${name}: expected "latest", "pending", "safe", "finalized", "earliest", a hex block number or { blockNumber } / { blockHash }, got ${show(v)}`,
  )
}

/** The positional params of a request, checked to be a list of at most `max` (at least `min`). */
export function positional(params: unknown, method: string, min: number, max: number): unknown[] {
  if (params !== undefined && !Array.isArray(params))
    throw invalidParams(`${method}: params must be a list (positional)`)
  const list = (params as unknown[] | undefined) ?? []
  if (list.length < min || list.length > max)
    throw invalidParams(
      `${method}: expected ${min === max ? min : `${min} to ${max}`} params, got ${list.length}`,
    )
  return list
}

const show = (v: unknown) => {
  const s = typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v)
  return s && s.length > 80 ? `${s.slice(0, 77)}…` : s
}
