/**
 * Consistency checks (seed §7.3): the local state compared with several peers — the signed header
 * at the local state's height, and a sample of accounts (and storage slots) proven at the local root —
 * with typed discrepancies, evidence, and repair of what is provably local damage.
 *
 * This file holds the contract: options, the typed outcomes, the result a check yields, its events,
 * and the equivocation evidence. The check itself is check.ts; storage of results and evidence is
 * records.ts; the periodic task is task.ts.
 *
 * Security considerations (the CometBFT light client's detector, not the seed's majority vote):
 * - A peer's answer is worth exactly what it proves. A header counts only if it names the validator
 *   set the verified header at its height names and a quorum of that set signed it; an account only through a proof valid against the
 *   root a verified header commits to. A majority of peers never overrides a verified header: peers
 *   whose header does not verify are charged (provably bad) and dropped, whatever their number.
 * - A different header at the same height that DOES carry a valid quorum is equivocation: it is never
 *   "repaired" automatically. Both signed headers are kept as evidence, the validators who signed
 *   both are named, and reads from that height stop until the user decides.
 * - Local data is untrusted too (disks rot, pages get tampered with): a local value that differs
 *   from a valid proof, or a local node that does not hash to its reference, is local damage; it is
 *   repaired only with nodes that hash to the references the verified root commits to.
 * - Peers that lack the state (pruned, behind) answer UNAVAILABLE and are not charged; a timeout
 *   is a failure, not a proof of lying.
 */
import type { LightBlock, TrustedHeader } from '../chain/header.ts'
import type { Checkpoint } from '../chain/light.ts'
import type { Clock } from '../clock.ts'
import type { LightPeer, PeerLedger } from '../light/peers.ts'
import type { RecoveryReport } from '../recovery/types.ts'
import type { StateStore } from '../store.ts'

export interface ConsistencyOptions {
  /** How often the app runs a check (ms); 0: only on demand ("Check now", the CLI). */
  intervalMs: number
  /** Peers asked per check (sampled among the usable ones). */
  peers: number
  /** Accounts sampled uniformly per check (a random key → the nearest leaf), besides watched ones. */
  accounts: number
  /** Storage slots checked per sampled account that has storage. */
  slotsPerAccount: number
  /** Peers asked for each account's proof (at least 2 when that many are available). */
  proofPeers: number
  /** Repair local damage found (on by default); off: report it and leave it. */
  autoRepair: boolean
  /**
   * Local damage found at this many paths in one check (or damage a path repair cannot fix) is
   * handed to the recovery manager: so much damage suggests more where the sample did not look.
   */
  escalateAfter: number
  /** Deadline of each request to a peer (ms). */
  requestTimeoutMs: number
}

export const DEFAULT_CONSISTENCY_OPTIONS: ConsistencyOptions = {
  intervalMs: 60_000,
  peers: 3,
  accounts: 32,
  slotsPerAccount: 2,
  proofPeers: 2,
  autoRepair: true,
  escalateAfter: 4,
  requestTimeoutMs: 10_000,
}

/** What one peer's header at the local height was. */
export type RootOutcome =
  /** The same header (hash) as the local verified one. */
  | 'match'
  /** The peer does not have that height (pruned, behind): not charged. */
  | 'unavailable'
  /** The header does not verify (bad or missing quorum, wrong height, undecodable): charged, banned. */
  | 'invalid'
  /** Another header at the height WITH a valid quorum: equivocation evidence. */
  | 'equivocation'
  /** No answer in time, or a transport failure: counted as a failure, not as lying. */
  | 'failed'

/** One peer's part in a check. */
export interface PeerCheck {
  peer: string
  root: RootOutcome
  /** Proofs it served that verified and agreed with the verified root. */
  proofsValid: number
  /** Proofs that did not verify (or proved another key / another root): each one charged. */
  proofsInvalid: number
  /** Proof requests it could not answer (UNAVAILABLE) or that failed in transport. */
  proofsUnavailable: number
  /** Why it was charged (the newest reason), or null. */
  charged: string | null
}

/** Where in the state a discrepancy is: an account (hashed key), or a slot of one. */
export interface StatePath {
  /** Hashed account key (0x…, 32 bytes). */
  account: string
  /** Hashed storage key (0x…), for a storage slot. */
  slot?: string
  /** The address, when it is known (a watched address). */
  address?: string
}

/** What was done about a discrepancy. */
export type Action =
  /** Nothing to do here (a liar charged, the local state untouched). */
  | 'charged'
  /** Local nodes replaced by proven ones and the path re-checked clean. */
  | 'repaired'
  /** Handed to the recovery manager (its report is in the result). */
  | 'recovery'
  /** Reported and left (auto-repair off, or repair failed — see `detail`). */
  | 'reported'
  /** Reads from the height stop until the user decides (equivocation). */
  | 'halted'

export type Discrepancy =
  /** The local root record disagrees with the verified header at its height: local damage. */
  | {
      kind: 'StateRootMismatch'
      height: number
      localRoot: string | null
      headerRoot: string
      action: Action
      detail: string
    }
  /** A valid proof's value differs from the local value at the same root: local corruption. */
  | {
      kind: 'AccountMismatch'
      path: StatePath
      local: string | null
      proven: string | null
      peer: string
      action: Action
      detail: string
    }
  /** A peer's answer did not verify (header or proof): charged. */
  | {
      kind: 'InvalidPeerData'
      peer: string
      what: 'header' | 'proof'
      path?: StatePath
      code: string
      action: Action
      detail: string
    }
  /** Two headers at one height, both with a valid quorum. */
  | { kind: 'Equivocation'; height: number; peer: string; evidence: string; action: Action; detail: string }
  /** A local lookup met a missing, corrupt or undecodable node. */
  | {
      kind: 'LocalDamage'
      path: StatePath
      problem: 'missing' | 'corrupt' | 'undecodable'
      hash: string
      action: Action
      detail: string
    }

export type DiscrepancyKind = Discrepancy['kind']

/** One check's outcome (kept in the store: the newest `RESULTS_KEPT`). */
export interface ConsistencyResult {
  /** Wall-clock ms (Date.now() epoch, from the clock port) when the check finished. */
  checkedAt: number
  height: number
  /** The root checked (the verified header's state root at `height`), 0x…. */
  root: string
  /** Peers asked for the header that answered with the same header, and none proved a conflict. */
  stateRootMatches: boolean
  /** Sampled paths (accounts and slots) that proofs from peers confirmed. */
  accountMatches: number
  /** Paths sampled (accounts + slots + watched addresses). */
  sampled: number
  discrepancies: Discrepancy[]
  peers: PeerCheck[]
  /** Paths repaired (0x hashed keys, `account/slot` for slots). */
  repaired: string[]
  /** The recovery the check escalated to, if any. */
  recovery: RecoveryReport | null
  /** In words, for people: "consistent", "2 accounts repaired", "equivocation at 120"… */
  summary: string
  ms: number
}

/** How many results the store keeps (newest first). */
export const RESULTS_KEPT = 20

/** Both signed headers at one height, and who signed both: what an equivocation leaves behind. */
export interface EquivocationEvidence {
  /** Stable id: 0x hash of the two header hashes (sorted), so the same pair is kept once. */
  id: string
  height: number
  chainId: number
  /** The header the client verified (0x RLP of the signed header, hash). */
  local: { hash: string; signed: string }
  /** The conflicting header with its valid quorum (0x RLP of the signed header, hash). */
  conflicting: { hash: string; signed: string }
  /**
   * The validator set (0x addresses, in order) that both headers name and were verified against.
   * Absent in records kept before validator sets rotated: those cannot be verified and are ignored.
   */
  validators?: string[]
  /** Validator indexes and addresses whose valid signatures are on both headers. */
  doubleSigners: { index: number; address: string }[]
  /** The peer that served the conflicting header. */
  peer: string
  foundAt: number
  /** Null until the user acknowledges it (reads at `height` and above stay halted until then). */
  acknowledgedAt: number | null
}

export type ConsistencyEvent =
  | { type: 'consistency-started'; height: number; root: string; peers: string[]; accounts: number }
  /** Paths checked so far (for a progress bar). */
  | { type: 'consistency-progress'; checked: number; total: number }
  | { type: 'consistency-finished'; result: ConsistencyResult }
  /** Equivocation found: reads at `height` and above stop until the user acknowledges it. */
  | { type: 'equivocation'; evidence: EquivocationEvidence }

/**
 * The verified header a check compares against: a `LightBlock` (the driver's verified header, with
 * the set that signs it), or a bare `TrustedHeader` that commits to the checkpoint's own set (the
 * checkpoint header, or a chain that has not rotated since it). See roots.ts `signingSet`.
 */
export type CheckedHeader = TrustedHeader | LightBlock

/**
 * What a check needs (check.ts `checkConsistency(deps, options, signal)`): ports only, so the same
 * check runs in the worker's driver, the CLI, and unit tests with fake peers and a manual clock.
 */
export interface ConsistencyDeps {
  store: StateStore
  /** Chain id (and the checkpoint's validators, for a header that does not carry its own set). */
  checkpoint: Checkpoint
  /**
   * The verified header at the local state's height h, with the validator set that signs it (peers'
   * headers at h are verified against that set) and its quorum signatures when it came from a peer
   * (they become evidence if another header at h verifies too).
   */
  header: CheckedHeader
  /** Candidate peers; a check samples `options.peers` of those not banned. */
  peers: LightPeer[]
  /** Charges peers (provably bad replies ban them) — the driver's session ledger. */
  ledger: Pick<PeerLedger, 'charge' | 'isBanned' | 'ban'>
  clock: Clock
  /** Uniform in [0, 1): which peers and which keys are sampled (seeded in tests). */
  random: () => number
  /** Addresses the user or the embedding page watches: always checked (20 bytes each). */
  watched: Uint8Array[]
  /**
   * The recovery manager, for damage a path repair cannot fix or too much of it: restores the state
   * at `header` (why 'consistency'). Absent: such damage is reported, not repaired.
   */
  recover?: (signal: AbortSignal) => Promise<RecoveryReport>
  /** Wall-clock ms for `checkedAt` and evidence (Date.now in the platforms; fixed in tests). */
  now: () => number
  emit: (e: ConsistencyEvent) => void
}
