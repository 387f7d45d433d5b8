/**
 * The account leaves of a stored state trie, for tests that damage them: each leaf stored under its
 * own hash, with the account's hashed key (the path to it) and its bytes.
 */
import { toHex } from '../../src/core/bytes.ts'
import { nibblesToBytes } from '../../src/core/trie/nibbles.ts'
import { decodeNode, type TrieNode } from '../../src/core/trie/node.ts'

export interface StoredLeaf {
  /** The key the node is stored under (its hash). */
  hash: Uint8Array
  /** The account's hashed key, 0x…. */
  key: string
  node: Uint8Array
}

/** Every account leaf stored by hash under `root` (leaves embedded in their parent are skipped). */
export async function storedAccountLeaves(
  store: { getNode(h: Uint8Array): Promise<Uint8Array | undefined> },
  root: Uint8Array,
): Promise<StoredLeaf[]> {
  const out: StoredLeaf[] = []
  const visit = async (hash: Uint8Array, path: number[]) => {
    const bytes = await store.getNode(hash)
    if (!bytes) throw new Error(`node ${toHex(hash)} is not stored`)
    const node = decodeNode(bytes)
    if (node.kind === 'leaf') {
      out.push({ hash, key: toHex(nibblesToBytes(Uint8Array.from([...path, ...node.path]))), node: bytes })
      return
    }
    const children: [TrieNode | null, number[]][] =
      node.kind === 'extension'
        ? [[node.child, [...path, ...node.path]]]
        : node.children.map((c, i) => [c, [...path, i]])
    for (const [c, p] of children) if (c?.kind === 'hash') await visit(c.hash, p)
  }
  await visit(root, [])
  return out
}
