/**
 * The light client's configuration — what `bootstrap.json` holds, what the page passes the worker and
 * what `rootsync sync` reads: the chain id, the checkpoint it trusts (with the validator set that signs
 * from there) and the peers to ask. One type, one parser, one rule for choosing a peer's address.
 *
 * Security considerations: the checkpoint and validators are the light client's only root of trust,
 * so the parser checks every field strictly (exact hash and address lengths) and names the field it
 * refuses; a configuration that parses does not make any peer trusted — peers only help find data
 * that is then verified against this checkpoint.
 */
import { fromHexExact } from '../bytes.ts'
import type { Checkpoint } from '../chain/light.ts'
import { RootsyncError } from '../errors.ts'
import { DEFAULT_TRUSTING_PERIOD_SEC } from './skipping.ts'

export interface PeerEntry {
  name: string
  peerId: string
  /** Multiaddrs, one per transport the peer listens on. */
  addrs: string[]
}

export interface BootstrapConfig {
  chainId: number
  /** The genesis header's hash ('' when only a later checkpoint is known). */
  genesisHash: string
  checkpoint: { number: number; hash: string }
  /** 0x addresses of the validator set that signs from the checkpoint on. */
  validators: string[]
  peers: PeerEntry[]
  /**
   * How long after its timestamp a trusted header may still extend trust (seconds of wall-clock
   * time; the chain's unbonding time). Default 14 days (light/skipping.ts).
   */
  trustingPeriodSec?: number
}

/** A configuration field that is missing or malformed; `field` names it (e.g. `peers[1].addrs`). */
export class BootstrapError extends RootsyncError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('BAD_BOOTSTRAP', `${field}: ${message}`, { field })
    this.name = 'BootstrapError'
  }
}

const HASH = /^0x[0-9a-fA-F]{64}$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/
/** base58btc peer ids (Ed25519 12D3Koo…, RSA Qm…). */
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{46,60}$/

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function str(v: unknown, field: string, re?: RegExp, what = 'a string'): string {
  if (typeof v !== 'string' || (re && !re.test(v))) throw new BootstrapError(field, `expected ${what}`)
  return v
}

function int(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw new BootstrapError(field, `expected an integer ≥ ${min}`)
  return v
}

/** Validates parsed JSON as a configuration; extra fields (a devnet's `updatedAt`, say) are ignored. */
export function parseBootstrap(json: unknown): BootstrapConfig {
  if (!isObject(json)) throw new BootstrapError('bootstrap', 'expected a JSON object')
  const chainId = int(json.chainId, 'chainId', 1)
  const cp = json.checkpoint
  if (!isObject(cp)) throw new BootstrapError('checkpoint', 'expected { number, hash }')
  const checkpoint = {
    number: int(cp.number, 'checkpoint.number', 0),
    hash: str(cp.hash, 'checkpoint.hash', HASH, '0x and 64 hex digits').toLowerCase(),
  }
  const genesisHash =
    json.genesisHash === undefined || json.genesisHash === ''
      ? checkpoint.number === 0
        ? checkpoint.hash
        : ''
      : str(json.genesisHash, 'genesisHash', HASH, '0x and 64 hex digits').toLowerCase()
  if (checkpoint.number === 0 && genesisHash !== checkpoint.hash)
    throw new BootstrapError('genesisHash', 'differs from the checkpoint at block 0')
  if (!Array.isArray(json.validators) || !json.validators.length)
    throw new BootstrapError('validators', 'expected a non-empty list of 0x addresses')
  const validators = json.validators.map((v, i) =>
    str(v, `validators[${i}]`, ADDRESS, 'a 0x address (40 hex digits)').toLowerCase(),
  )
  const peersIn = json.peers ?? []
  if (!Array.isArray(peersIn)) throw new BootstrapError('peers', 'expected a list')
  const peers = peersIn.map((p, i): PeerEntry => {
    const f = `peers[${i}]`
    if (!isObject(p)) throw new BootstrapError(f, 'expected { name, peerId, addrs }')
    if (!Array.isArray(p.addrs) || !p.addrs.length)
      throw new BootstrapError(`${f}.addrs`, 'expected a non-empty list of multiaddrs')
    return {
      name: p.name === undefined ? `peer-${i + 1}` : str(p.name, `${f}.name`),
      peerId: str(p.peerId, `${f}.peerId`, PEER_ID, 'a base58 peer id'),
      addrs: p.addrs.map((a, j) => str(a, `${f}.addrs[${j}]`, /^\//, 'a multiaddr (starting with /)')),
    }
  })
  const trustingPeriodSec =
    json.trustingPeriodSec === undefined ? undefined : int(json.trustingPeriodSec, 'trustingPeriodSec', 60)
  return {
    chainId,
    genesisHash,
    checkpoint,
    validators,
    peers,
    ...(trustingPeriodSec ? { trustingPeriodSec } : {}),
  }
}

/** The trust anchor a configuration names, in the form header verification takes. */
export function checkpointOf(c: BootstrapConfig): Checkpoint {
  return {
    chainId: c.chainId,
    number: c.checkpoint.number,
    hash: fromHexExact(c.checkpoint.hash, 32, 'checkpoint hash'),
    validators: c.validators.map((v) => fromHexExact(v, 20, 'validator')),
    trustingPeriodSec: c.trustingPeriodSec ?? DEFAULT_TRUSTING_PERIOD_SEC,
  }
}

export type AddrTransport = 'websocket' | 'webrtc-direct'

/** Whether a multiaddr uses `transport` (by its protocol components, not a substring anywhere). */
export function usesTransport(addr: string, transport: AddrTransport): boolean {
  const parts = addr.split('/')
  return transport === 'websocket'
    ? parts.includes('ws') || parts.includes('wss')
    : parts.includes('webrtc-direct')
}

/**
 * THE rule for choosing how to reach a peer: its first address over `transport`, or null when it has
 * none (the caller skips the peer for that transport rather than dialling something else).
 */
export function pickAddr(peer: Pick<PeerEntry, 'addrs'>, transport: AddrTransport): string | null {
  return peer.addrs.find((a) => usesTransport(a, transport)) ?? null
}
