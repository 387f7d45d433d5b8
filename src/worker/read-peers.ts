/**
 * The peers a verified read asks (proofs, code, headers): the registry's usable ones, waiting a
 * bounded time for a first one to connect. A return visit answers from IndexedDB before it
 * connects, so a read that must go to the network can come before any peer is up.
 */
import { timeoutSignal } from '../core/clock.ts'
import { throwIfStopped } from '../core/task.ts'
import { realClock } from '../platform/clock.ts'
import type { PeerRegistry, RegisteredPeer } from './peer-registry.ts'

/** How long one request of a read (a proof, code, a run of headers) may take before the next peer is asked. */
export const READ_REQUEST_TIMEOUT_MS = 5000
/** How long a read that must go to the network waits for a first connected peer. */
const PEER_WAIT_MS = 10_000

export async function peersFor(peers: PeerRegistry, stop?: AbortSignal): Promise<RegisteredPeer[]> {
  if (peers.usable().length) return peers.usable()
  const { signal, clear } = timeoutSignal(realClock, stop, PEER_WAIT_MS)
  await new Promise<void>((resolve) => {
    const done = () => {
      off()
      signal.removeEventListener('abort', done)
      resolve()
    }
    const off = peers.onJoin(done)
    signal.addEventListener('abort', done, { once: true })
  })
  clear()
  if (stop) throwIfStopped(stop, 'read')
  return peers.usable()
}

/**
 * One request to one peer under the read's signal and the per-request timeout. Rethrows the read's
 * own cancellation; any other failure is returned as the error, for the caller to charge or skip.
 */
export async function ask<T>(
  work: (signal: AbortSignal) => Promise<T>,
  stop?: AbortSignal,
): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  const { signal, clear } = timeoutSignal(realClock, stop, READ_REQUEST_TIMEOUT_MS)
  try {
    return { ok: true, value: await work(signal) }
  } catch (e) {
    if (stop) throwIfStopped(stop, 'read')
    return { ok: false, error: e as Error }
  } finally {
    clear()
  }
}
