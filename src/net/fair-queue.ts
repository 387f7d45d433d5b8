/**
 * Fair admission of requests on a serving node: at most `maxActive` requests are being served at once
 * (reading LevelDB, encoding), and when a slot frees the next request comes from the next peer in
 * turn (round robin over the peers that are waiting), not from whoever sent the most.
 *
 * Why: each stream is served in order, so without this a peer gets service in proportion to the
 * streams it keeps busy — up to 16 per protocol (libp2p's per-peer stream limit) against an honest
 * sync client's 3 requests in flight — and one greedy peer would slow every other client down
 * roughly fivefold. With round robin each waiting peer gets one request served per turn whatever
 * it queues, so a client's wait is bounded by the number of peers, not by what they send.
 *
 * Security considerations: the queue holds only requests already read off streams that libp2p
 * bounds (streams per peer, request size), so it cannot grow without bound; a task that throws
 * frees its slot like one that returns.
 */

export interface FairQueue {
  /** Runs `task` once a slot is free and it is `peer`'s turn; resolves or rejects as `task` does. */
  run<T>(peer: string, task: () => Promise<T>): Promise<T>
  /** Requests being served now, and waiting. */
  readonly active: number
  readonly waiting: number
}

interface Waiting {
  start: () => void
}

export function createFairQueue(maxActive: number): FairQueue {
  if (!(maxActive >= 1)) throw new RangeError(`maxActive must be at least 1, got ${maxActive}`)
  // Peers with waiting requests, in turn order (a Map keeps insertion order: the next in turn is
  // the first key; a peer served goes to the back if it still has requests waiting).
  const queues = new Map<string, Waiting[]>()
  let active = 0
  let waiting = 0

  const pump = (): void => {
    while (active < maxActive && queues.size > 0) {
      const [peer, q] = queues.entries().next().value as [string, Waiting[]]
      queues.delete(peer)
      const next = q.shift()!
      if (q.length) queues.set(peer, q)
      waiting--
      active++
      next.start()
    }
  }

  return {
    run<T>(peer: string, task: () => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const start = (): void => {
          let p: Promise<T>
          try {
            p = task()
          } catch (e) {
            p = Promise.reject(e)
          }
          p.then(resolve, reject).finally(() => {
            active--
            pump()
          })
        }
        const q = queues.get(peer)
        if (q) q.push({ start })
        else queues.set(peer, [{ start }])
        waiting++
        pump()
      })
    },
    get active() {
      return active
    },
    get waiting() {
      return waiting
    },
  }
}
