/**
 * Sampled paths proven by peers (issue 11 item 3): each path is asked of `proofPeers` peers at the
 * local verified root, and every answer is verified before it counts.
 *
 * - Sampled accounts and slots are known only by hashed key, so they are proven with the range
 *   protocol: the first leaf at or after the key with its edge proof (`verifyRangeProof`). If that
 *   leaf is the key, its value is proven; if it is another key (or there is none), the key is proven
 *   absent. A slot is verified against the storage root its account holds (read from the local
 *   trie, itself re-hashed from the root).
 * - Watched addresses are known, so they are proven with the proof protocol (`verifyRequestedProof`):
 *   a proof of another address, or one that does not verify against the root, is a wrong answer.
 *
 * Security considerations: an answer is worth exactly what it proves. A proof that does not verify
 * (another root, another address, garbage) is charged to its peer, which is not asked again in this
 * check; a peer that lacks the root (UNAVAILABLE) or does not answer in time is not charged; a peer
 * without the range protocol is not asked for hashed keys. Valid proofs against one root cannot
 * disagree, so the first valid one gives the proven value; the proof nodes kept for a repair are
 * only those hash-linked to the root (each hashes to a reference in a node already authenticated).
 */
import { verifyRequestedProof } from '../account-proof.ts'
import { equals, toHex } from '../bytes.ts'
import type { Clock } from '../clock.ts'
import { RootsyncError } from '../errors.ts'
import { isProvablyBad, type LightPeer, type PeerLedger, timed } from '../light/peers.ts'
import { isUnavailable } from '../protocol/range.ts'
import { childRefs, decodeNode, type TrieKind } from '../trie/node.ts'
import { proofMap, verifyProof } from '../trie/proof.ts'
import { verifyRangeProof } from '../trie/range-proof.ts'
import { addressOf, type SampledPath } from './sample.ts'

export type AnswerOutcome = 'valid' | 'invalid' | 'unavailable' | 'failed'

export interface PathVerdict {
  path: SampledPath
  /** The proven value (null: proven absent), from the first valid proof; undefined: no peer could prove it. */
  proven?: Uint8Array | null
  /**
   * The first leaf at or after the path's key that a range proof proved (absent for the proof
   * protocol, or when the trie has no leaf there): names the account a path sampled at a random key
   * reached when its local walk met damage before a leaf.
   */
  leaf?: { key: Uint8Array; value: Uint8Array }
  /** The verified proof nodes (each hashes to a reference on the proven path from the root). */
  nodes: Uint8Array[]
  /** Per peer asked: 'valid' | 'invalid' | 'unavailable' | 'failed', and the error code/message when not valid. */
  answers: { peer: string; outcome: AnswerOutcome; code?: string; detail?: string }[]
}

export interface ProveOptions {
  /** Valid answers wanted per path (peers are asked in turn until that many, or none is left). */
  proofPeers: number
  requestTimeoutMs: number
  clock: Clock
  ledger: Pick<PeerLedger, 'charge'>
  /** Paths finished so far. */
  onProgress?: (done: number) => void
}

/** Paths proven at once: a few requests in flight, not one per path. */
export const PATHS_IN_FLIGHT = 8

/** What one valid answer proved. */
interface Proven {
  value: Uint8Array | null
  leaf?: { key: Uint8Array; value: Uint8Array }
  nodes: Uint8Array[]
}

/**
 * Each path asked of peers in rotation (path i starts at peer i mod n) until `proofPeers` valid
 * answers, with at most `PATHS_IN_FLIGHT` paths in flight and each request under `timed`.
 */
export async function provePaths(
  root: Uint8Array,
  paths: SampledPath[],
  peers: LightPeer[],
  o: ProveOptions,
  signal: AbortSignal,
): Promise<PathVerdict[]> {
  const verdicts: PathVerdict[] = new Array(paths.length)
  // Peers whose answer did not verify: charged once per wrong answer, then not asked again here.
  const wrong = new Set<string>()
  let next = 0
  let done = 0

  const provePath = async (i: number, path: SampledPath): Promise<PathVerdict> => {
    const v: PathVerdict = { path, nodes: [], answers: [] }
    let valid = 0
    for (let k = 0; k < peers.length && valid < o.proofPeers; k++) {
      const peer = peers[(i + k) % peers.length]!
      if (wrong.has(peer.id)) continue
      const ask = asker(root, path, peer)
      if (!ask) continue
      const what = `consistency proof of ${path.path.address ?? path.path.account}${path.path.slot ? `/${path.path.slot}` : ''}`
      try {
        const got = await timed(o.clock, signal, o.requestTimeoutMs, peer.id, what, ask)
        valid++
        v.answers.push({ peer: peer.id, outcome: 'valid' })
        if (v.proven === undefined) {
          v.proven = got.value
          v.nodes = got.nodes
          if (got.leaf) v.leaf = got.leaf
        }
      } catch (e) {
        if (signal.aborted) throw e
        const outcome = classify(e)
        if (outcome === 'invalid') {
          wrong.add(peer.id)
          o.ledger.charge(peer.id, e, what)
        }
        v.answers.push({
          peer: peer.id,
          outcome,
          code: e instanceof RootsyncError ? e.code : 'ERROR',
          detail: (e as Error)?.message ?? String(e),
        })
      }
    }
    return v
  }

  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++
      verdicts[i] = await provePath(i, paths[i]!)
      o.onProgress?.(++done)
    }
  }
  await Promise.all(Array.from({ length: Math.min(PATHS_IN_FLIGHT, paths.length) }, worker))
  return verdicts
}

/** A reply that proves the peer wrong (charged) vs. one that merely did not come (not charged). */
function classify(e: unknown): AnswerOutcome {
  if (isUnavailable(e)) return 'unavailable'
  if (isProvablyBad(e)) return 'invalid'
  return 'failed'
}

/** The request that proves `path` from `peer`, verified; null if the peer cannot be asked for it. */
function asker(
  root: Uint8Array,
  path: SampledPath,
  peer: LightPeer,
): ((signal: AbortSignal) => Promise<Proven>) | null {
  const address = addressOf(path)
  if (address)
    return async (signal) => {
      const p = await peer.wire.proof({ stateRoot: root, address, slots: [] }, signal)
      verifyRequestedProof(root, address, [], p)
      return {
        value: verifyProof(root, path.key, p.accountProof),
        nodes: linked(root, p.accountProof, 'state'),
      }
    }
  const range = peer.wire.range?.bind(peer.wire)
  if (!range) return null
  const trieRoot = path.storage?.root ?? root
  const kind: TrieKind = path.storage ? 'storage' : 'state'
  return async (signal) => {
    const reply = await range(
      {
        root,
        ...(path.storage ? { account: path.storage.account } : {}),
        origin: path.key,
        limit: path.key,
        maxBytes: 1,
      },
      signal,
    )
    verifyRangeProof(trieRoot, path.key, reply.keys, reply.values, reply.proof)
    const key = reply.keys[0]
    const value = reply.values[0]
    return {
      value: key && value && equals(key, path.key) ? value : null,
      ...(key && value ? { leaf: { key, value } } : {}),
      nodes: linked(trieRoot, reply.proof, kind),
    }
  }
}

/**
 * The proof nodes hash-linked to `root`: the root's node, and every node that hashes to a reference
 * inside one already taken. Anything else a peer sent along is dropped.
 */
function linked(root: Uint8Array, proof: Uint8Array[], kind: TrieKind): Uint8Array[] {
  const byHash = proofMap(proof)
  const out: Uint8Array[] = []
  const stack = [toHex(root)]
  const taken = new Set<string>()
  while (stack.length) {
    const h = stack.pop()!
    const bytes = byHash.get(h)
    if (!bytes || taken.has(h)) continue
    taken.add(h)
    out.push(bytes)
    let refs: ReturnType<typeof childRefs>
    try {
      refs = childRefs(decodeNode(bytes), kind)
    } catch {
      continue // a node our decoder rejects is kept but not followed; a repair re-checks it anyway
    }
    for (const r of refs) stack.push(toHex(r.hash))
  }
  return out
}
