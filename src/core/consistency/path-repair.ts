/**
 * Repair of one sampled path from the nodes of a valid proof (issue 11 item 3): local damage on a
 * path (a node missing, or stored bytes that are not the node its parent references) is replaced by
 * the proven node with that hash, and the path is read again.
 *
 * Why this is safe: nodes are content-addressed. A proof node that hashes to a reference its verified
 * parent holds IS the node the root commits to, whoever sent it; so a flipped leaf, or a well-formed
 * leaf of another value stored under the hash, is overwritten by the one node that belongs there.
 * Only nodes the local path needs are written — those met on the path whose local copy is missing or
 * wrong — never any other, in one atomic write, and only once the path, read with them, gives the
 * proven value. Damage the proof does not cover (deeper than the path, e.g. a storage subtree) is not
 * repaired here: the path reports it and the caller escalates to the recovery manager.
 */
import { toHex } from '../bytes.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { checkEntry, type WalkSource } from '../trie/reachable.ts'
import type { PathVerdict } from './prove.ts'
import { lookupLocal, sameValue } from './sample.ts'

export interface PathRepair {
  repaired: boolean
  /** Nodes written (0 when the path was already right, or could not be repaired). */
  written: number
  detail: string
}

/**
 * Writes the proven nodes that the local path needs (those whose hash is referenced on the path and
 * locally missing or wrong — never any other), in one atomic write, then re-reads the path: returns
 * true if it now reads the proven value. The caller does not call it when auto-repair is off.
 */
export async function repairPath(store: NodeStore, root: Uint8Array, v: PathVerdict): Promise<PathRepair> {
  if (v.proven === undefined) return { repaired: false, written: 0, detail: 'no peer proved this path' }
  const { path } = v
  const trieRoot = path.storage?.root ?? root
  const kind = path.trie === 'storage' ? 'storage' : 'state'
  const proven = new Map(v.nodes.map((b) => [toHex(keccak256(b)), b]))
  const fixes = new Map<string, [Uint8Array, Uint8Array]>()
  // The local store, with a proven node in place of each local entry on the path that fails its check.
  const patched: WalkSource = {
    async getNode(hash) {
      const bytes = await store.getNode(hash)
      if (Array.isArray(checkEntry(hash, bytes, kind))) return bytes
      const h = toHex(hash)
      const good = proven.get(h)
      if (!good) return bytes
      fixes.set(h, [hash, good])
      return good
    },
  }
  const withFixes = await lookupLocal(patched, trieRoot, path.key, path.trie)
  if ('damage' in withFixes)
    return {
      repaired: false,
      written: 0,
      detail: `${withFixes.damage.problem} node ${withFixes.damage.hash} is not in the proof: the damage is beyond this path's proof`,
    }
  if (!sameValue(withFixes, v.proven))
    return {
      repaired: false,
      written: 0,
      detail: 'the path read with the proof nodes still differs from the proof',
    }
  if (fixes.size) await store.write({ nodes: [...fixes.values()] })
  const after = await lookupLocal(store, trieRoot, path.key, path.trie)
  if (!sameValue(after, v.proven))
    return {
      repaired: false,
      written: fixes.size,
      detail:
        'damage' in after
          ? `still ${after.damage.problem}: ${after.damage.hash}`
          : 'still reads another value',
    }
  return {
    repaired: true,
    written: fixes.size,
    detail: fixes.size ? `${fixes.size} node(s) replaced by proven ones` : 'already reads the proven value',
  }
}
