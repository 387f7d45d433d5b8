/**
 * What consistency checks leave in the store: the newest results (META.consistency, a JSON list,
 * newest first, at most RESULTS_KEPT) and equivocation evidence (META.evidence, a JSON list, one
 * entry per id), with the user's acknowledgement of evidence and the height reads halt from.
 *
 * Security considerations: local data is untrusted (disks rot, pages get tampered with). Stored JSON
 * is parsed without throwing and every entry's shape is checked field by field; an entry that does
 * not match is dropped, never shown half-read. Evidence shape is not proof: before stored evidence
 * halts anything, `verifyEvidence` re-checks both headers' quorum signatures against the checkpoint.
 */
import { equals, fromHex, toHex } from '../bytes.ts'
import { decodeSignedHeader, headerHash, type SignedHeader } from '../chain/header.ts'
import type { Checkpoint } from '../chain/light.ts'
import { verifyHeaderSignatures } from '../chain/validators.ts'
import { META } from '../meta-keys.ts'
import { STRATEGY_NAMES } from '../recovery/types.ts'
import type { NodeStore } from '../store.ts'
import { ConsistencyError, doubleSigners, evidenceId } from './roots.ts'
import { type ConsistencyResult, type EquivocationEvidence, RESULTS_KEPT } from './types.ts'

// ---- shape checks for untrusted JSON --------------------------------------------------------------

type Check = (v: unknown) => boolean
type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const str: Check = (v) => typeof v === 'string'
const bool: Check = (v) => typeof v === 'boolean'
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v)
const count: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0
const hexOf =
  (bytes?: number): Check =>
  (v) =>
    typeof v === 'string' &&
    /^0x([0-9a-f]{2})*$/.test(v) &&
    (bytes === undefined || v.length === 2 + 2 * bytes)
const hex = hexOf()
const hash = hexOf(32)
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v)
const optional =
  (c: Check): Check =>
  (v) =>
    v === undefined || c(v)
const oneOf =
  (...xs: unknown[]): Check =>
  (v) =>
    xs.includes(v)
const list =
  (c: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(c)
/** Every listed field present with the right type (extra fields are tolerated and ignored). */
const shape =
  (fields: Record<string, Check>): Check =>
  (v) =>
    isObj(v) && Object.entries(fields).every(([k, c]) => c(v[k]))

const action = oneOf('charged', 'repaired', 'recovery', 'reported', 'halted')
const statePath = shape({ account: hash, slot: optional(hash), address: optional(hexOf(20)) })

const discrepancyByKind: Record<string, Check> = {
  StateRootMismatch: shape({ height: count, localRoot: nullable(hash), headerRoot: hash }),
  AccountMismatch: shape({ path: statePath, local: nullable(hex), proven: nullable(hex), peer: str }),
  InvalidPeerData: shape({ peer: str, what: oneOf('header', 'proof'), path: optional(statePath), code: str }),
  Equivocation: shape({ height: count, peer: str, evidence: hash }),
  LocalDamage: shape({ path: statePath, problem: oneOf('missing', 'corrupt', 'undecodable'), hash: hash }),
}
const discrepancy: Check = (v) =>
  isObj(v) &&
  typeof v.kind === 'string' &&
  Object.hasOwn(discrepancyByKind, v.kind) &&
  discrepancyByKind[v.kind]!(v) &&
  action(v.action) &&
  str(v.detail)

const peerCheck = shape({
  peer: str,
  root: oneOf('match', 'unavailable', 'invalid', 'equivocation', 'failed'),
  proofsValid: count,
  proofsInvalid: count,
  proofsUnavailable: count,
  charged: nullable(str),
})

const recoveryReport = shape({
  at: num,
  why: oneOf('startup-check', 'read-damage', 'repair-flag', 'consistency', 'user', 'cli'),
  target: shape({ height: count, root: str, hash: str }),
  strategy: nullable(oneOf(...STRATEGY_NAMES)),
  attempts: list(
    shape({
      strategy: oneOf(...STRATEGY_NAMES),
      outcome: oneOf('recovered', 'not-applicable', 'failed'),
      reason: nullable(shape({ code: str, message: str })),
      ms: num,
      bytes: count,
      nodes: count,
      blocks: count,
    }),
  ),
})

const result = shape({
  checkedAt: num,
  height: count,
  root: hash,
  stateRootMatches: bool,
  accountMatches: count,
  sampled: count,
  discrepancies: list(discrepancy),
  peers: list(peerCheck),
  repaired: list(str),
  recovery: nullable(recoveryReport),
  summary: str,
  ms: num,
})

const evidenceShape = shape({
  id: hash,
  height: count,
  chainId: count,
  local: shape({ hash, signed: hex }),
  conflicting: shape({ hash, signed: hex }),
  doubleSigners: list(shape({ index: count, address: hexOf(20) })),
  peer: str,
  foundAt: num,
  acknowledgedAt: nullable(num),
})

/** The entries of a stored JSON list that pass `check`; [] for anything unreadable. Never throws. */
function parseList<T>(bytes: Uint8Array | undefined, check: Check): T[] {
  if (!bytes) return []
  let v: unknown
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    return []
  }
  return Array.isArray(v) ? (v.filter(check) as T[]) : []
}

const jsonBytes = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

// ---- results -------------------------------------------------------------------------------------

/** Stored results (newest first, at most RESULTS_KEPT); entries of the wrong shape are dropped. */
export const parseResults = (bytes: Uint8Array | undefined): ConsistencyResult[] =>
  parseList<ConsistencyResult>(bytes, result).slice(0, RESULTS_KEPT)

export async function readResults(store: Pick<NodeStore, 'getMeta'>): Promise<ConsistencyResult[]> {
  return parseResults(await store.getMeta(META.consistency))
}

/**
 * Keeps `r` as the newest result (the oldest beyond RESULTS_KEPT dropped) in one atomic write;
 * `extraMeta` lets the caller add records (evidence, say) to the same batch.
 */
export async function saveResult(
  store: Pick<NodeStore, 'getMeta' | 'write'>,
  r: ConsistencyResult,
  extraMeta: [string, Uint8Array | null][] = [],
): Promise<void> {
  const kept = [r, ...(await readResults(store))].slice(0, RESULTS_KEPT)
  await store.write({ meta: [[META.consistency, jsonBytes(kept)], ...extraMeta] })
}

// ---- evidence ------------------------------------------------------------------------------------

/** Stored evidence (one entry per id, the first kept); entries of the wrong shape are dropped. */
export function parseEvidence(bytes: Uint8Array | undefined): EquivocationEvidence[] {
  return dedupe(parseList<EquivocationEvidence>(bytes, evidenceShape))
}

function dedupe(es: EquivocationEvidence[]): EquivocationEvidence[] {
  const seen = new Set<string>()
  return es.filter((e) => !seen.has(e.id) && seen.add(e.id))
}

export async function readEvidence(store: Pick<NodeStore, 'getMeta'>): Promise<EquivocationEvidence[]> {
  return parseEvidence(await store.getMeta(META.evidence))
}

/**
 * The META write entry for `existing` evidence plus `add`: an id already kept keeps its stored
 * entry (and so its acknowledgement), new ids are appended.
 */
export function evidenceMeta(
  existing: EquivocationEvidence[],
  add: EquivocationEvidence[],
): [string, Uint8Array] {
  return [META.evidence, jsonBytes(dedupe([...existing, ...add]))]
}

/** Marks evidence acknowledged by the user (reads at its height resume); returns the stored entry. */
export async function acknowledgeEvidence(
  store: Pick<NodeStore, 'getMeta' | 'write'>,
  id: string,
  now: number,
): Promise<EquivocationEvidence> {
  const all = await readEvidence(store)
  const i = all.findIndex((e) => e.id === id)
  if (i < 0)
    throw new ConsistencyError('EVIDENCE_NOT_FOUND', `no equivocation evidence has the id ${id}`, { id })
  const e = all[i]!
  if (e.acknowledgedAt !== null) return e
  const acked = { ...e, acknowledgedAt: now }
  all[i] = acked
  await store.write({ meta: [evidenceMeta(all, [])] })
  return acked
}

/** The lowest height of unacknowledged evidence (reads from there on stop), or null. */
export function haltedFrom(evidence: EquivocationEvidence[]): number | null {
  let h: number | null = null
  for (const e of evidence) if (e.acknowledgedAt === null && (h === null || e.height < h)) h = e.height
  return h
}

/**
 * Re-verifies evidence (stored evidence is untrusted): both headers decode, are at `height`, hash to
 * the recorded hashes, differ, and each carries a valid quorum for `cp` (the local one may instead be
 * the checkpoint header itself, trusted by configuration); the id and the double signers are the ones
 * the headers give. Throws a typed error (ConsistencyError EVIDENCE_INVALID, ChainError from the
 * signature check, RlpError/InputError for bytes that do not decode).
 */
export function verifyEvidence(cp: Checkpoint, e: EquivocationEvidence): void {
  const bad = (why: string) =>
    new ConsistencyError('EVIDENCE_INVALID', `evidence ${e.id}: ${why}`, { id: e.id, height: e.height })
  if (e.chainId !== cp.chainId) throw bad(`for chain ${e.chainId}, not ${cp.chainId}`)
  const side = (
    s: { hash: string; signed: string },
    what: string,
  ): { signed: SignedHeader; hash: Uint8Array } => {
    const signed = decodeSignedHeader(fromHex(s.signed, `${what} header`))
    const hash = headerHash(signed.header)
    if (signed.header.number !== e.height) throw bad(`the ${what} header is at ${signed.header.number}`)
    if (toHex(hash) !== s.hash) throw bad(`the ${what} header does not hash to ${s.hash}`)
    return { signed, hash }
  }
  const local = side(e.local, 'local')
  const conflicting = side(e.conflicting, 'conflicting')
  if (equals(local.hash, conflicting.hash)) throw bad('both headers are the same')
  if (evidenceId(local.hash, conflicting.hash) !== e.id) throw bad('the id is not the one its headers give')
  const isCheckpoint = local.signed.header.number === cp.number && equals(local.hash, cp.hash)
  if (!isCheckpoint) verifyHeaderSignatures(cp.chainId, local.signed, cp.validators)
  verifyHeaderSignatures(cp.chainId, conflicting.signed, cp.validators)
  const signers = doubleSigners(cp.chainId, cp.validators, local.signed, conflicting.signed)
  if (
    JSON.stringify(signers) !==
    JSON.stringify(e.doubleSigners.map(({ index, address }) => ({ index, address })))
  )
    throw bad('the double signers named are not the ones whose signatures are on both headers')
}
