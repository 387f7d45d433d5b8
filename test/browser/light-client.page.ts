/**
 * Test page for the embeddable light client: `createLightClient` with the bootstrap fetched by URL
 * and the sync worker bundled beside the page (/worker.js). `window.__call(method, args)` runs one
 * client method and returns its result or its typed error (name, code, message) as plain data.
 */
import { createLightClient } from '../../src/client/light-client.ts'

const lc = createLightClient({
  bootstrap: '/bootstrap.json',
  worker: () => new Worker('/worker.js', { type: 'module', name: 'rootsync-sync' }),
})

type Result = { ok: unknown } | { error: { name: string; code?: string; message: string } }

const w = window as unknown as Record<string, unknown>
w.__call = async (method: string, args: unknown[]): Promise<Result> => {
  try {
    const fn = (lc as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!
    return { ok: await fn(...args) }
  } catch (e) {
    const x = e as Error & { code?: string }
    return { error: { name: x.name, code: x.code, message: x.message } }
  }
}
/** waitSynced with a signal aborted before the call: must reject, whatever the sync's state. */
w.__waitAborted = async (): Promise<Result> => {
  const ac = new AbortController()
  ac.abort()
  return lc.waitSynced({ signal: ac.signal }).then(
    (ok) => ({ ok }),
    (e: Error & { code?: string }) => ({ error: { name: e.name, code: e.code, message: e.message } }),
  )
}
w.__head = () => lc.head()
w.__role = () => lc.role
w.__ready = true
