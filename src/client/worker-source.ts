/**
 * Where a page's light client gets its worker: its own dedicated worker, or a share of the origin's
 * one sync (a SharedWorker, or the worker of a leader tab). Every kind looks like a `Worker` to the
 * client (postMessage/onmessage/onerror/terminate); `terminate` on a shared one leaves the sync
 * running for the other pages. (Contract: the sharing kinds arrive with issue 13's sharing part.)
 */
import type { LightClient, LightClientOptions } from './light-client.ts'

export interface WorkerSource {
  create(): Worker
  /** How this page takes part (null until `create`). */
  role(): LightClient['role']
}

export function workerSource(
  o: Pick<LightClientOptions, 'worker' | 'workerUrl' | 'sharedWorkerUrl' | 'sharing'>,
): WorkerSource {
  let role: LightClient['role'] = null
  return {
    create() {
      role = 'dedicated'
      if (o.worker) return o.worker()
      if (o.workerUrl) return new Worker(o.workerUrl, { type: 'module', name: 'rootsync-sync' })
      return new Worker(new URL('../worker/sync-worker.ts', import.meta.url), {
        type: 'module',
        name: 'rootsync-sync',
      })
    },
    role: () => role,
  }
}
