/**
 * Fault injection for the sync engine: in-process peers that serve a node store honestly, or
 * corrupt bytes, return wrong nodes, answer empty, stall, disconnect mid-request, answer slowly,
 * or claim a different root.
 */
import type { NodeStore } from '../../src/core/store.ts'
import type { SyncPeer } from '../../src/core/sync/types.ts'

export type Fault = 'honest' | 'corrupt' | 'wrong' | 'empty' | 'stall' | 'disconnect' | 'slow' | 'other-root'

export interface FaultPeer extends SyncPeer {
  served: number
  requests: number
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((res, rej) => {
    const t = setTimeout(res, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(t)
      rej(signal.reason ?? new Error('aborted'))
    })
  })

/**
 * A peer over `store`. `otherStore` is the state a lying peer serves instead ("other-root").
 * `latencyMs` delays every reply (real peers are never instant).
 */
export function faultPeer(
  id: string,
  store: NodeStore,
  fault: Fault,
  opts: { latencyMs?: number; otherStore?: NodeStore } = {},
): FaultPeer {
  const p: FaultPeer = {
    id,
    served: 0,
    requests: 0,
    async getNodes(hashes, signal) {
      p.requests++
      await sleep(fault === 'slow' ? 150 : (opts.latencyMs ?? 1), signal)
      switch (fault) {
        case 'stall':
          return new Promise<Uint8Array[]>((_, rej) =>
            signal.addEventListener('abort', () => rej(signal.reason ?? new Error('aborted'))),
          )
        case 'empty':
          return hashes.map(() => new Uint8Array(0))
        case 'disconnect':
          if (p.requests > 1) throw new Error('connection reset by peer')
          break
        case 'other-root': {
          const other = opts.otherStore!
          return Promise.all(hashes.map(async (h) => (await other.getNode(h)) ?? new Uint8Array(0)))
        }
      }
      const out: Uint8Array[] = []
      for (const h of hashes) {
        const v = await store.getNode(h)
        if (!v) {
          out.push(new Uint8Array(0))
          continue
        }
        if (fault === 'corrupt') {
          const b = v.slice()
          b[b.length >> 1]! ^= 0x40
          out.push(b)
        } else if (fault === 'wrong') {
          // A real node, just not the one asked for.
          out.push(out.length ? out[0]! : ((await store.getNode(hashes[hashes.length - 1]!)) ?? v))
        } else out.push(v)
        p.served++
      }
      return out
    },
  }
  return p
}
