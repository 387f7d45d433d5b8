import { describe, expect, it } from 'vitest'
import { manualClock, timeoutError } from '../../src/core/clock.ts'
import { failureKind, PeerFailure } from '../../src/core/peers/failure.ts'
import { createScheduler, failedOutcome } from '../../src/core/peers/scheduler.ts'
import { PeerRequestError } from '../../src/net/errors.ts'

const peer = (id: string) => ({ id })
const cfg = {
  initialBatch: 128,
  minBatch: 16,
  maxBatch: 1024,
  maxInFlightPerPeer: 2,
  banThreshold: 3,
  emptyThreshold: 4,
  backoffBaseMs: 100,
  backoffMaxMs: 5000,
  hedgeFactor: 4,
  hedgeFloorMs: 300,
}

describe('peer scheduler', () => {
  it('classifies request failures by type: both kinds of timeout are timeouts', () => {
    expect(failureKind(timeoutError(10))).toBe('timeout')
    expect(failureKind(new PeerRequestError('timeout', 'no answer'))).toBe('timeout')
    expect(new PeerRequestError('timeout', 'x').code).toBe('PEER_TIMEOUT')
    expect(new PeerRequestError('stream', 'x')).toBeInstanceOf(PeerFailure)
    expect(failureKind(new PeerRequestError('stream', 'reset'))).toBe('error')
    expect(failureKind(new DOMException('stop', 'AbortError'))).toBe('aborted')
    // A message that merely mentions a timeout is not one.
    expect(failureKind(new Error('timeout while reading'))).toBe('error')
    expect(failedOutcome(new PeerRequestError('timeout', 'x'), false)).toEqual({ kind: 'timeout' })
    expect(failedOutcome(new PeerRequestError('aborted', 'client closed'), false).kind).toBe('error')
    expect(failedOutcome(timeoutError(5), true)).toEqual({ kind: 'aborted' })
  })

  it('a timeout is counted as one and shrinks the request size; a useful reply grows it from the rate', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('a'))
    const r = s.begin('a')
    expect(r.size).toBe(128)
    clock.advance(1000)
    s.settle(r, [{ kind: 'timeout' }])
    const st = s.stats()[0]!
    expect(st.timeouts).toBe(1)
    expect(st.errors).toBe(0)
    expect(st.batch).toBe(64)
    clock.advance(10_000)
    const r2 = s.begin('a')
    clock.advance(100)
    s.settle(r2, [{ kind: 'useful', items: 64, bytes: 6400 }])
    // 640 items/s × 300 ms target round trip
    expect(s.stats()[0]!.batch).toBe(192)
    expect(s.stats()[0]!.delivered).toBe(64)
  })

  it('backs off after a failure: no request before the backoff ends, one after', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('a'))
    s.settle(s.begin('a'), [{ kind: 'error', error: new Error('reset') }])
    expect(s.ready().map((p) => p.id)).toEqual([])
    expect(s.nextReadyAt()).toBe(200) // 100 × 2^1
    clock.advance(199)
    expect(s.ready()).toEqual([])
    clock.advance(1)
    expect(s.ready().map((p) => p.id)).toEqual(['a'])
    // A second failure in a row doubles it; a reply resets the count.
    s.settle(s.begin('a'), [{ kind: 'error' }])
    expect(s.nextReadyAt()).toBe(200 + 400)
    clock.advance(400)
    s.settle(s.begin('a'), [{ kind: 'useful', items: 1, bytes: 1 }])
    s.settle(s.begin('a'), [{ kind: 'error' }])
    expect(s.nextReadyAt()).toBe(clock.now() + 200)
  })

  it('limits requests in flight per peer and orders ready peers by useful rate', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('slow'))
    s.join(peer('fast'))
    const a = s.begin('slow')
    const b = s.begin('fast')
    clock.advance(100)
    s.settle(a, [{ kind: 'useful', items: 10, bytes: 10 }])
    s.settle(b, [{ kind: 'useful', items: 100, bytes: 100 }])
    expect(s.ready().map((p) => p.id)).toEqual(['fast', 'slow'])
    s.begin('fast')
    s.begin('fast')
    expect(s.ready().map((p) => p.id)).toEqual(['slow'])
  })

  it('bans a peer past banThreshold bad items; it stays banned when it reconnects', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('liar'))
    expect(s.settle(s.begin('liar'), [{ kind: 'bad', items: 2, reason: 'do not match' }])).toBeNull()
    const change = s.settle(s.begin('liar'), [
      { kind: 'useful', items: 5, bytes: 5 },
      { kind: 'bad', items: 1, reason: 'do not match' },
    ])
    expect(change).toEqual({ type: 'banned', id: 'liar', reason: 'sent 3 item(s) that do not match' })
    expect(s.ready()).toEqual([])
    s.leave('liar')
    expect(s.join(peer('liar'))).toBe('banned')
    expect(s.summary()).toMatchObject([{ id: 'liar', outcome: 'banned', reason: /sent 3 item/ }])
  })

  it('rotates out a peer that answers empty to everything, and names it in the summary', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('empty'))
    s.join(peer('ok'))
    for (let i = 0; i < 3; i++) expect(s.settle(s.begin('empty'), [{ kind: 'lacking', items: 8 }])).toBeNull()
    // Lacking some while serving others is not "empty".
    s.settle(s.begin('ok'), [
      { kind: 'lacking', items: 8 },
      { kind: 'useful', items: 1, bytes: 1 },
    ])
    const change = s.settle(s.begin('empty'), [{ kind: 'lacking', items: 8 }])
    expect(change).toMatchObject({ type: 'dropped', id: 'empty' })
    expect(s.ready().map((p) => p.id)).toEqual(['ok'])
    expect(s.join(peer('empty'))).toBe('dropped')
    const summary = Object.fromEntries(s.summary().map((p) => [p.id, p]))
    expect(summary.empty).toMatchObject({
      outcome: 'dropped',
      reason: 'answered empty to 4 requests in a row',
    })
    expect(summary.empty!.stats.missing).toBe(32)
    expect(summary.ok).toMatchObject({ outcome: 'used', reason: null })
  })

  it('a peer that leaves gets no work; back under the same id it rejoins with its history', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('a'))
    s.join(peer('b'))
    s.settle(s.begin('b'), [{ kind: 'useful', items: 7, bytes: 70 }])
    expect(s.leave('b')).toBe(true)
    expect(s.ready().map((p) => p.id)).toEqual(['a'])
    expect(s.summary().find((p) => p.id === 'b')!.outcome).toBe('left')
    expect(s.join(peer('b'))).toBe('rejoined')
    expect(s.ready().map((p) => p.id)).toContain('b')
    expect(s.stats().find((p) => p.id === 'b')!.delivered).toBe(7)
    const newer = peer('b')
    expect(s.join(newer)).toBe('present')
    expect(s.begin('b').peer).toBe(newer) // a new connection replaces the old one
  })

  it('records peers refused before they joined, with the reason', () => {
    const s = createScheduler(manualClock(), cfg)
    s.refuse('liar', 'wrong-root', 'answered with a node that is not the target root')
    s.refuse('mute', 'timeout', 'timed out after 10000 ms')
    expect(s.stats()).toEqual([]) // never joined
    expect(s.summary()).toMatchObject([
      { id: 'liar', outcome: 'refused', refusal: 'wrong-root', reason: /not the target root/ },
      { id: 'mute', outcome: 'refused', refusal: 'timeout' },
    ])
  })

  it('says when a request is overdue: max(hedgeFactor × the peer reply RTT, hedgeFloorMs)', () => {
    const clock = manualClock()
    const s = createScheduler(clock, cfg)
    s.join(peer('a'), 5)
    // No reply measured yet (the probe's round trip says little): hedgeFactor × the floor.
    const first = s.begin('a')
    expect(first.hedgeAt).toBe(1200)
    clock.advance(50)
    s.settle(first, [{ kind: 'useful', items: 10, bytes: 10 }])
    expect(s.begin('a').hedgeAt - clock.now()).toBe(300) // 4 × 50 ms < the floor
    s.join(peer('b'))
    const b = s.begin('b')
    clock.advance(200)
    s.settle(b, [{ kind: 'useful', items: 10, bytes: 10 }])
    expect(s.begin('b').hedgeAt - clock.now()).toBe(800)
  })
})
