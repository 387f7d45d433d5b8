/**
 * The store-writer worker's entry: the IndexedDB store's transactions, off the sync worker's thread
 * (src/store/idb-writer.ts). The sync worker creates it (host.ts) when the store opens.
 */
import { serveWriter } from '../store/idb-writer.ts'

serveWriter(self as unknown as Parameters<typeof serveWriter>[0])
