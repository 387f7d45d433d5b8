import { describe, expect, it } from 'vitest'
import { createFairQueue } from '../../src/net/fair-queue.ts'

/** A task whose completion the test controls, recording when it started. */
function controlled(log: string[], name: string) {
  let finish!: () => void
  let fail!: (e: Error) => void
  const done = new Promise<string>((res, rej) => {
    finish = () => res(name)
    fail = rej
  })
  return {
    task: () => {
      log.push(name)
      return done
    },
    finish,
    fail,
  }
}

const settle = () => new Promise((r) => setImmediate(r))

describe('fair queue: round robin over peers, bounded concurrency', () => {
  it('serves at most maxActive at once and starts the next as one finishes', async () => {
    const q = createFairQueue(2)
    const log: string[] = []
    const t = ['a1', 'a2', 'a3'].map((n) => controlled(log, n))
    const results = t.map((x) => q.run('a', x.task))
    expect(log).toEqual(['a1', 'a2'])
    expect([q.active, q.waiting]).toEqual([2, 1])
    t[0]!.finish()
    await expect(results[0]).resolves.toBe('a1')
    await settle()
    expect(log).toEqual(['a1', 'a2', 'a3'])
    t[1]!.finish()
    t[2]!.finish()
    await expect(Promise.all(results)).resolves.toEqual(['a1', 'a2', 'a3'])
    expect([q.active, q.waiting]).toEqual([0, 0])
  })

  it('a peer that queues many requests does not delay another peer’s request behind all of them', async () => {
    const q = createFairQueue(1)
    const log: string[] = []
    const greedy = Array.from({ length: 6 }, (_, i) => controlled(log, `g${i}`))
    const busy = greedy.map((g) => q.run('greedy', g.task))
    const h1 = controlled(log, 'h1')
    const h2 = controlled(log, 'h2')
    const honest = [q.run('honest', h1.task), q.run('honest', h2.task)]
    // Serve everything one at a time, in the order the queue chooses.
    const byName = new Map([...greedy.map((g, i) => [`g${i}`, g] as const), ['h1', h1], ['h2', h2]])
    for (let i = 0; i < byName.size; i++) {
      byName.get(log[i]!)!.finish()
      await settle()
    }
    await Promise.all([...busy, ...honest])
    // g0 started at once; then turns alternate while both peers wait: the honest peer's two
    // requests are served 3rd and 5th, not 7th and 8th behind everything the greedy peer queued.
    expect(log).toEqual(['g0', 'g1', 'h1', 'g2', 'h2', 'g3', 'g4', 'g5'])
  })

  it('a task that throws or rejects frees its slot and rejects its caller only', async () => {
    const q = createFairQueue(1)
    const log: string[] = []
    const bad = controlled(log, 'bad')
    const first = q.run('a', bad.task)
    const sync = q.run('b', () => {
      throw new Error('sync throw')
    })
    const ok = controlled(log, 'ok')
    const after = q.run('c', ok.task)
    bad.fail(new Error('boom'))
    await expect(first).rejects.toThrow('boom')
    await expect(sync).rejects.toThrow('sync throw')
    await settle()
    expect(log).toEqual(['bad', 'ok'])
    ok.finish()
    await expect(after).resolves.toBe('ok')
    expect([q.active, q.waiting]).toEqual([0, 0])
  })

  it('refuses a concurrency below one', () => {
    expect(() => createFairQueue(0)).toThrow(RangeError)
  })
})
