/**
 * Shapes of the range protocol (`/rootsync/range/1`, docs/protocol.md): a run of leaves of one trie
 * at a given state root — the account trie, or one account's storage trie — by hashed key, with the
 * proof of the run's two edges, so the receiver can check with `verifyRangeProof` that the run is
 * exactly all the leaves between its origin and its last key. Code is asked by hash.
 *
 * The codec lives beside these types; the port (`PeerWire.range` / `PeerWire.code`) uses them.
 */

export interface RangeRequest {
  /** The state root the range is read at (a root the client verified through a header). */
  root: Uint8Array
  /** Hashed account key (32 bytes) for a storage range of that account; absent for the account trie. */
  account?: Uint8Array
  /** First key wanted (32 bytes); the reply starts at the first leaf ≥ origin. */
  origin: Uint8Array
  /** The server may stop after the first leaf ≥ limit (32 bytes; all 0xff for "to the end"). */
  limit: Uint8Array
  /** Soft cap on the reply's leaf bytes (the server stops adding leaves past it). */
  maxBytes: number
}

export interface RangeReply {
  /** Leaf keys (32 bytes each), strictly increasing, the first ≥ origin. */
  keys: Uint8Array[]
  /** Leaf values, one per key (account RLP, or RLP of a storage value). */
  values: Uint8Array[]
  /** Proof nodes of the origin's path and the last key's path (none: the whole trie is in the reply). */
  proof: Uint8Array[]
}
