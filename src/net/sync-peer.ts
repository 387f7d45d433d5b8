/** A libp2p peer as the sync engine's `SyncPeer`: node requests over `/rootsync/nodes/1`. */
import type { SyncPeer } from '../core/sync/types.ts'
import type { PeerClient } from './client.ts'

export function syncPeerOf(client: PeerClient, id = client.id): SyncPeer {
  return { id, getNodes: (hashes, signal) => client.nodes(hashes, signal) }
}
