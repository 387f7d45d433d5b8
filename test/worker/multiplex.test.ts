/**
 * The multiplexer: one host, many pages. Requests are renumbered and replies routed to the page that
 * asked; everything else reaches every page; a late page hears the current state at once; the
 * shared sync stops only when no page wants it.
 */
import { describe, expect, it } from 'vitest'
import type { FromWorker, ToWorker } from '../../src/api/worker-protocol.ts'
import { createMultiplex } from '../../src/worker/multiplex.ts'

const header = { number: 7, hash: '0xaa', stateRoot: '0xbb' }
const answer = (address: string) => ({
  address,
  account: null,
  source: 'proof' as const,
  header,
  ms: 1,
})
const start: ToWorker = { type: 'start', bootstrap: {} as never, dbName: 'rootsync-1-x' }

function setup() {
  const host: ToWorker[] = []
  const mux = createMultiplex((m) => host.push(m))
  const page = () => {
    const got: FromWorker[] = []
    const input = mux.connect((m) => got.push(m))
    return { got, input }
  }
  return { host, mux, page }
}

describe('multiplex', () => {
  it('gives the worker’s start-up milestones from before any page to the first page only', () => {
    const { mux, page } = setup()
    const early: FromWorker = { type: 'timing', name: 'worker-start', epochMs: 1 }
    mux.fromHost(early)
    expect(page().got).toEqual([early])
    expect(page().got).toEqual([])
  })

  it('renumbers colliding request ids and routes each reply to the page that asked, under its own id', () => {
    const { host, mux, page } = setup()
    const a = page()
    const b = page()
    a.input({ type: 'getAccount', id: 1, address: '0x01' })
    b.input({ type: 'getAccount', id: 1, address: '0x02' })
    const [ha, hb] = host as Extract<ToWorker, { type: 'getAccount' }>[]
    expect(ha!.id).not.toBe(hb!.id)
    mux.fromHost({ type: 'account', id: hb!.id, answer: answer('0x02') })
    mux.fromHost({ type: 'account', id: ha!.id, answer: answer('0x01') })
    expect(a.got).toEqual([{ type: 'account', id: 1, answer: answer('0x01') }])
    expect(b.got).toEqual([{ type: 'account', id: 1, answer: answer('0x02') }])
  })

  it('cancels a page’s read under the host’s id', () => {
    const { host, page } = setup()
    const a = page()
    page().input({ type: 'getAccount', id: 5, address: '0x02' })
    a.input({ type: 'getAccount', id: 5, address: '0x01' })
    const hostId = (host[1] as { id: number }).id
    a.input({ type: 'cancel', id: 5 })
    expect(host[2]).toEqual({ type: 'cancel', id: hostId })
  })

  it('broadcasts events and replays the current state to a page that connects late', () => {
    const { mux, page } = setup()
    const a = page()
    const events: FromWorker[] = [
      { type: 'timing', name: 'worker-start', epochMs: 1 },
      { type: 'event', event: { type: 'phase', phase: 'syncing' } },
      { type: 'last-recovery', report: null },
      { type: 'event', event: { type: 'header', header, fromStore: false, peersHead: 7 } },
      { type: 'peers', peers: [] },
      { type: 'event', event: { type: 'phase', phase: 'synced' } },
    ]
    for (const m of events) mux.fromHost(m)
    expect(a.got).toEqual(events)
    const late = page()
    // The latest of each, in the order they last changed; no start-up marks of another page.
    expect(late.got).toEqual([events[2], events[3], events[4], events[5]])
  })

  it('stops the shared sync only when no page wants it, and when every page has left', () => {
    const { host, mux, page } = setup()
    const a = page()
    const b = page()
    a.input(start)
    b.input(start)
    expect(host.filter((m) => m.type === 'start')).toHaveLength(2)
    a.input({ type: 'stop' })
    // Page a hears its stop at once; the host keeps running for b.
    expect(a.got).toEqual([
      { type: 'event', event: expect.objectContaining({ type: 'phase', phase: 'stopped' }) },
    ])
    expect(host.some((m) => m.type === 'stop')).toBe(false)
    b.input({ type: 'leave' })
    expect(host.filter((m) => m.type === 'stop')).toHaveLength(1)
    mux.fromHost({ type: 'event', event: { type: 'phase', phase: 'stopped' } })
    expect(mux.size()).toBe(1)
  })

  it('a page that leaves gets nothing more, and its reads in flight are cancelled in the host', () => {
    const { host, mux, page } = setup()
    const a = page()
    const b = page()
    a.input({ type: 'getAccount', id: 1, address: '0x01' })
    const hostId = (host[0] as { id: number }).id
    a.input({ type: 'leave' })
    expect(host).toContainEqual({ type: 'cancel', id: hostId })
    mux.fromHost({ type: 'read-error', id: hostId, code: 'READ_CANCELLED', message: 'cancelled' })
    mux.fromHost({ type: 'event', event: { type: 'phase', phase: 'syncing' } })
    expect(a.got).toEqual([])
    expect(b.got).toHaveLength(1)
  })
})
