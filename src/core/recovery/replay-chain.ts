/**
 * Where a block replay gets its data: the peers that claim the blocks (status), asked in turn, and
 * the hash chain from the starting height to the verified target, established from their headers.
 *
 * Security considerations: a peer's status is only a claim that decides whom to ask. Headers are
 * accepted only top-down, each hashing to the parent hash of the verified header above it and the
 * first to the verified target's hash, so no signature is needed below the target and a peer cannot
 * slip in a header of another chain: a chunk that does not link is proof the peer lied (charged).
 */
import { equals } from '../bytes.ts'
import { ChainError } from '../chain/errors.ts'
import { encodeSignedHeader, type Header, headerHash } from '../chain/header.ts'
import { isProvablyBad, type LightPeer, timed } from '../light/peers.ts'
import { LIMITS } from '../protocol/messages.ts'
import { throwIfStopped } from '../task.ts'
import { NotApplicableError, type StrategyContext } from './types.ts'

/**
 * Peers asked in turn; a peer that failed is out for the rest of the replay — charged if it proved
 * wrong, only set aside if it was slow, broken or lacking (it may just not have the blocks).
 */
export function peerPool(ctx: StrategyContext, peers: LightPeer[]) {
  const out = new Map<string, string>()
  let turn = 0
  const setAside = (peer: LightPeer, reason: string) => void out.set(peer.id, reason)
  const bad = (peer: LightPeer, reason: string) => {
    ctx.charge(peer.id, reason)
    setAside(peer, reason)
  }
  return {
    next(): LightPeer | null {
      const live = peers.filter((p) => !out.has(p.id))
      return live.length ? live[turn++ % live.length]! : null
    },
    /** Proved wrong: charged. */
    bad,
    /** Not wrong, but not useful here (slow, broken, or it lacks what was asked). */
    setAside,
    /** A request that threw: charged if the reply proved the peer wrong, else set aside. */
    failed(peer: LightPeer, e: unknown, what: string) {
      throwIfStopped(ctx.signal, 'block replay')
      const reason = `${what}: ${(e as Error)?.message ?? String(e)}`
      if (isProvablyBad(e)) bad(peer, reason)
      else setAside(peer, reason)
    },
    reasons: () => [...out].map(([peer, reason]) => ({ peer, reason })),
  }
}
export type Pool = ReturnType<typeof peerPool>

export const request = <T>(
  ctx: StrategyContext,
  peer: LightPeer,
  what: string,
  work: (s: AbortSignal) => Promise<T>,
) => timed(ctx.clock, ctx.signal, ctx.options.requestTimeoutMs, peer.id, what, work)

/** Peers on our chain whose status claims the target height (a claim only: their data is checked). */
export async function blockPeers(ctx: StrategyContext): Promise<{ peers: LightPeer[]; reasons: string[] }> {
  const all = ctx.peers()
  const got = await Promise.allSettled(all.map((p) => request(ctx, p, 'status', (s) => p.wire.status(s))))
  throwIfStopped(ctx.signal, 'block replay')
  const peers: LightPeer[] = []
  const reasons: string[] = []
  all.forEach((p, i) => {
    const r = got[i]!
    if (r.status === 'rejected') reasons.push(`${p.id}: status failed (${(r.reason as Error)?.message})`)
    else if (r.value.chainId !== ctx.chainId) reasons.push(`${p.id}: on chain ${r.value.chainId}`)
    else if (r.value.headNumber < ctx.target.header.number)
      reasons.push(`${p.id}: head ${r.value.headNumber}`)
    else peers.push(p)
  })
  return { peers, reasons }
}

/** The verified chain from `from` to the target: headers and their hashes, by height − from. */
export interface HashChain {
  from: number
  headers: Header[]
  hashes: Uint8Array[]
}

/**
 * Fetches headers top-down in chunks, each chunk linked by hash to the verified part above it (the
 * target hash first). A peer whose chunk does not link is charged and the next peer continues from
 * the same point.
 */
export async function linkHeaders(ctx: StrategyContext, pool: Pool, from: number): Promise<HashChain> {
  const n = ctx.target.header.number - from + 1
  const chain: HashChain = { from, headers: new Array(n), hashes: new Array(n) }
  let need = ctx.target.hash
  let top = ctx.target.header.number
  while (top >= from) {
    const peer = pool.next()
    if (!peer)
      throw new NotApplicableError(
        'REPLAY_NO_HEADER_CHAIN',
        `no peer served headers ${from}..${top} linking to the verified target: ${reasonsText(pool)}`,
        { reasons: pool.reasons() },
      )
    const lo = Math.max(from, top - LIMITS.maxHeaders + 1)
    try {
      const hs = await request(ctx, peer, 'headers', (s) => peer.wire.headers(lo, top - lo + 1, s))
      for (const h of hs) ctx.counters.bytes += encodeSignedHeader(h).length
      if (hs.length < top - lo + 1) {
        pool.setAside(peer, `headers: served ${hs.length} of ${top - lo + 1} from ${lo}`)
        continue
      }
      let want = need
      for (let i = top - lo; i >= 0; i--) {
        const h = hs[i]!.header
        const hash = headerHash(h)
        if (h.number !== lo + i || !equals(hash, want))
          throw new ChainError('BAD_PARENT', `header ${lo + i} does not link to the verified chain`, {
            number: lo + i,
          })
        chain.headers[h.number - from] = h
        chain.hashes[h.number - from] = hash
        want = h.parentHash
      }
      need = want
      top = lo - 1
    } catch (e) {
      pool.failed(peer, e, 'headers')
    }
  }
  return chain
}

export const reasonsText = (pool: Pool) =>
  pool
    .reasons()
    .map((r) => `${r.peer}: ${r.reason}`)
    .join('; ') || 'no peer'
