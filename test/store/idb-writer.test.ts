/**
 * The store-writer client's protocol with a fake worker (no IndexedDB): when the writer counts as
 * started, that commits resolve with the writer's answer, and what a lost writer does to the
 * batches in flight. The real writer runs in Chromium in idb-conformance.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CommitRequest, FromWriter, ToWriter } from '../../src/store/idb-writer.ts'
import { WriterClient } from '../../src/store/idb-writer-client.ts'

class FakeWorker {
  onmessage: ((ev: { data: FromWriter }) => void) | null = null
  onerror: ((ev: { message: string; preventDefault(): void }) => void) | null = null
  sent: ToWriter[] = []
  terminated = false
  postMessage(m: ToWriter) {
    this.sent.push(m)
  }
  terminate() {
    this.terminated = true
  }
  reply(m: FromWriter) {
    this.onmessage?.({ data: m })
  }
  fail() {
    this.onerror?.({ message: 'boom', preventDefault() {} })
  }
}

const req = (): CommitRequest => ({ pack: new ArrayBuffer(8), record: null, meta: [] })
const g = globalThis as { Worker?: unknown }
let saved: unknown
beforeEach(() => {
  saved = g.Worker
  g.Worker = FakeWorker
})
afterEach(() => {
  g.Worker = saved
})

async function started(): Promise<[WriterClient, FakeWorker]> {
  const w = new FakeWorker()
  const p = WriterClient.start(() => w as unknown as Worker, 'db')
  expect(w.sent).toEqual([{ type: 'open', name: 'db' }])
  w.reply({ type: 'ready' })
  return [(await p)!, w]
}

describe('store-writer client', () => {
  it('no writer where it cannot start: spawn throws, the script fails, or the database does not open', async () => {
    expect(
      await WriterClient.start(() => {
        throw new Error('no nested workers')
      }, 'db'),
    ).toBeNull()
    const broken = new FakeWorker()
    const p = WriterClient.start(() => broken as unknown as Worker, 'db')
    broken.fail()
    expect(await p).toBeNull()
    expect(broken.terminated).toBe(true)
    const refused = new FakeWorker()
    const q = WriterClient.start(() => refused as unknown as Worker, 'db')
    refused.reply({ type: 'failed', name: 'UnknownError', message: 'no' })
    expect(await q).toBeNull()
  })

  it('a batch resolves with the pack id once the writer reports its commit; errors carry the DOMException name', async () => {
    const [client, w] = await started()
    const a = client.commit(req())
    const b = client.commit(req())
    const [ma, mb] = w.sent.slice(1) as Extract<ToWriter, { type: 'write' }>[]
    w.reply({ type: 'done', id: ma!.id, packId: 7, req: ma!.req })
    w.reply({ type: 'error', id: mb!.id, name: 'QuotaExceededError', message: 'full' })
    expect((await a).packId).toBe(7)
    await expect(b).rejects.toEqual({ name: 'QuotaExceededError', message: 'full' })
    expect(client.dead).toBe(false)
  })

  it('a writer that dies fails the batches in flight and is not used again', async () => {
    const [client, w] = await started()
    const a = client.commit(req())
    w.fail()
    await expect(a).rejects.toMatchObject({ name: 'WriterLost' })
    expect(client.dead).toBe(true)
    expect(w.terminated).toBe(true)
    await expect(client.commit(req())).rejects.toMatchObject({ name: 'WriterLost' })
  })
})
