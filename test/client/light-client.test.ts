/**
 * createLightClient over an in-memory worker (it only exchanges protocol messages): the bootstrap
 * by object or URL (fetch and JSON failures are BootstrapErrors that say what to fix), head() from
 * the header events, waitSynced (at once when synced, on `synced` otherwise, rejected on abort and
 * on close), and reads passed through with their block option.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { FromWorker, ToWorker } from '../../src/api/worker-protocol.ts'
import { createLightClient } from '../../src/client/light-client.ts'

const CONFIG = {
  chainId: 1337,
  genesisHash: `0x${'11'.repeat(32)}`,
  checkpoint: { number: 0, hash: `0x${'11'.repeat(32)}` },
  validators: [`0x${'22'.repeat(20)}`],
  peers: [],
}
const HEAD = { number: 7, hash: `0x${'33'.repeat(32)}`, stateRoot: `0x${'44'.repeat(32)}` }

/** A worker that records what it is sent; `reply` plays the worker's side. */
function fakeWorker() {
  const sent: ToWorker[] = []
  const w = {
    onmessage: null as ((ev: MessageEvent<FromWorker>) => void) | null,
    onerror: null,
    postMessage: (m: ToWorker) => sent.push(m),
    terminate: () => {},
  }
  const reply = (m: FromWorker) => w.onmessage?.({ data: m } as MessageEvent<FromWorker>)
  return { worker: w as unknown as Worker, sent, reply }
}

afterEach(() => vi.unstubAllGlobals())

describe('createLightClient', () => {
  it('starts with a bootstrap object through the worker it is given, and reports its role', async () => {
    const f = fakeWorker()
    const lc = createLightClient({ bootstrap: CONFIG, worker: () => f.worker })
    await lc.start()
    expect(f.sent[0]).toMatchObject({ type: 'start', bootstrap: { chainId: 1337 } })
    expect(lc.role).toBe('dedicated')
    expect(lc.dbName).toMatch(/^rootsync-1337-/)
    lc.close()
  })

  it('fetches a bootstrap URL; fetch failures, HTTP errors and bad JSON are BootstrapErrors', async () => {
    const cases: [() => Promise<Response>, RegExp][] = [
      [async () => new Response(JSON.stringify(CONFIG)), /./],
      [() => Promise.reject(new TypeError('Failed to fetch')), /could not fetch .*CORS/],
      [async () => new Response('nope', { status: 404 }), /HTTP 404/],
      [async () => new Response('{ not json'), /is not JSON/],
      [async () => new Response(JSON.stringify({ chainId: 'x' })), /chainId/],
    ]
    for (const [i, [respond, message]] of cases.entries()) {
      vi.stubGlobal('fetch', vi.fn(respond))
      const f = fakeWorker()
      const lc = createLightClient({
        bootstrap: 'https://example.test/bootstrap.json',
        worker: () => f.worker,
      })
      const r = await lc.start().then(
        () => null,
        (e) => e,
      )
      if (i === 0) expect(f.sent[0]).toMatchObject({ type: 'start' })
      else
        expect(r).toMatchObject({
          name: 'BootstrapError',
          code: 'BAD_BOOTSTRAP',
          message: expect.stringMatching(message),
        })
      lc.close()
    }
    const lc = createLightClient({ worker: () => fakeWorker().worker })
    await expect(lc.start()).rejects.toMatchObject({ code: 'BAD_BOOTSTRAP', message: /no configuration/ })
  })

  it('waitSynced resolves with the head at `synced`, at once when synced, and rejects on abort and close', async () => {
    const f = fakeWorker()
    const lc = createLightClient({ bootstrap: CONFIG, worker: () => f.worker })
    await lc.start()
    expect(lc.head()).toBeNull()
    const waiting = lc.waitSynced()
    const ac = new AbortController()
    const aborted = lc.waitSynced({ signal: ac.signal })
    ac.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'ReadError', code: 'READ_CANCELLED' })
    f.reply({ type: 'event', event: { type: 'header', header: HEAD, fromStore: false, peersHead: 7 } })
    f.reply({ type: 'event', event: { type: 'phase', phase: 'syncing' } })
    expect(lc.head()).toEqual(HEAD)
    f.reply({ type: 'event', event: { type: 'phase', phase: 'synced' } })
    await expect(waiting).resolves.toEqual(HEAD)
    await expect(lc.waitSynced()).resolves.toEqual(HEAD)
    f.reply({ type: 'event', event: { type: 'phase', phase: 'syncing' } })
    const pending = lc.waitSynced()
    lc.close()
    await expect(pending).rejects.toMatchObject({ code: 'STOPPED' })
  })

  it('passes reads to the worker with their block, and a cancelled one rejects READ_CANCELLED', async () => {
    const f = fakeWorker()
    const lc = createLightClient({ bootstrap: CONFIG, worker: () => f.worker })
    await lc.start()
    const proof = lc.getProof('0xab', ['0x1'], { block: 5 })
    const m = f.sent.at(-1) as Extract<ToWorker, { type: 'getProof' }>
    expect(m).toMatchObject({ type: 'getProof', address: '0xab', slots: ['0x1'], block: 5 })
    f.reply({ type: 'read-error', id: m.id, code: 'STATE_UNAVAILABLE', message: 'pruned' })
    await expect(proof).rejects.toMatchObject({ name: 'ReadError', code: 'STATE_UNAVAILABLE' })
    const ac = new AbortController()
    const block = lc.getBlock(3, { signal: ac.signal })
    ac.abort()
    await expect(block).rejects.toMatchObject({ code: 'READ_CANCELLED' })
    expect(f.sent.at(-1)).toMatchObject({ type: 'cancel' })
    lc.close()
  })
})
