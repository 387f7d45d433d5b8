/** A libp2p peer as the sync engine's `SyncPeer`: node requests over `/rootsync/nodes/1`. */
import type { SyncPeer } from '../core/sync/types.ts'
import type { WireClient } from './wire-client.ts'

export function syncPeerOf(client: WireClient, id = client.id): SyncPeer {
  return { id, getNodes: (hashes, signal) => client.nodes(hashes, signal) }
}
