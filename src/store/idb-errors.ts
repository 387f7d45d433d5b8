/**
 * The IndexedDB store's typed errors, and the one place a failed write transaction is classified
 * (by the DOMException's `name`, never its message) — the same whether the transaction ran on the
 * sync worker's thread or in the store-writer worker (idb-writer.ts), which sends the name across.
 */
import { RootsyncError } from '../core/errors.ts'

export class StoreFullError extends RootsyncError {
  constructor(detail: string) {
    super(
      'STORE_FULL',
      `browser storage is full${detail ? ` (${detail})` : ''}: free space on this device or clear old site data, then retry — nothing of the last batch was stored`,
    )
    this.name = 'StoreFullError'
  }
}

/**
 * A newer rootsync (another tab, after an update) asked to upgrade this database: this store closed
 * its connection so the upgrade can complete, and refuses every further read and write. The page
 * should reload to run the new version.
 */
export class StoreVersionChangedError extends RootsyncError {
  constructor(name: string) {
    super(
      'STORE_VERSION_CHANGED',
      `a newer rootsync opened this database (${name}) in another tab: reload this page`,
      { name },
    )
    this.name = 'StoreVersionChangedError'
  }
}

/**
 * The name the store-writer worker reports when its connection was closed for a version change
 * (not a DOMException name: the writer closed its connection itself).
 */
export const WRITER_VERSION_CHANGED = 'RootsyncVersionChanged'

/** A failed write transaction as the store reports it: a full quota is `StoreFullError`. */
export function writeError(name: string | undefined, message: string): RootsyncError {
  if (name === 'QuotaExceededError') return new StoreFullError(message)
  return new RootsyncError('STORE_WRITE_FAILED', `IndexedDB write failed: ${name ?? ''} ${message}`)
}
