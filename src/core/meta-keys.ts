/**
 * Every metadata key any store holds, in one place: what it holds and who writes it. Metadata lives
 * beside the content-addressed nodes and is written in the same atomic batches (see store.ts).
 */
export const META = {
  /** RLP [root, height]: the state the last completed sync left complete (written with its root node). */
  stateRoot: 'state/root',
  /**
   * RLP [reason, hash?]: the local state met a missing or corrupt node (a read, a walk or a
   * compaction found it); it must be repaired before it is trusted complete again.
   */
  repair: 'state/repair',
  /**
   * RLP list of [height, root, headerHash, nodes]: complete, verified states kept as local snapshots
   * for recovery (newest first); pruning keeps their nodes (core/recovery/snapshots.ts).
   */
  snapshots: 'state/snapshots',
  /** JSON of the last `RecoveryReport` (core/recovery/types.ts), written with the completion marker. */
  recovery: 'state/recovery',
  /**
   * Resumable progress of a network-snapshot recovery (core/recovery/snapshot-sync.ts), tied to its
   * exact target root; written in the same batch as the nodes it describes.
   */
  snapshotProgress: 'recovery/snapshot',
  /** RLP [targetHash, height, root]: the last block a replay committed (core/recovery/replay.ts). */
  replayProgress: 'recovery/replay',
  /** JSON list of the newest consistency-check results, newest first (core/consistency/records.ts). */
  consistency: 'consistency/results',
  /**
   * JSON list of equivocation evidence (core/consistency/records.ts): both signed headers at a height
   * and the validators who signed both. Reads at an unacknowledged one's height and above stop.
   */
  evidence: 'consistency/evidence',
  /**
   * RLP [2, signedHeader, validators, nextValidators (empty: the same)]: the newest verified head as
   * a light block (re-checked on load, with META.lightPath; format 1, a bare signed header, is ignored).
   */
  lightHead: 'light/head',
  /**
   * RLP [2, [[signedHeader, validators, nextValidators]…]]: the trust path from the checkpoint's block
   * to the head (core/light/trust.ts), re-verified offline on load; written in one batch with lightHead.
   */
  lightPath: 'light/path',
  /** The checkpoint hash a data directory was synced from (a different checkpoint is refused). */
  lightCheckpoint: 'light/checkpoint',
  /** Proof paths of recent reads, re-verified when used (worker/proof-cache.ts). */
  proofCache: 'reads/proofs',
  /** Stores without a packed layout keep staged nodes (verified, waiting for children) under this prefix. */
  stagedPrefix: 'sync/staged/',
  /** The serving node's chain database (core/chain/chain-db.ts). */
  chain: 'chain',
  chainHead: 'head',
  header: (n: number) => `header/${n}`,
  block: (n: number) => `block/${n}`,
  /** RLP [address…]: a validator set a stored header names, by its hash (0x hex); chain-db.ts. */
  validatorSet: (hashHex: string) => `chain/vset/${hashHex}`,
} as const
