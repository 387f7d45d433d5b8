/**
 * Block replay: from a complete local state {height, root} to the verified target header, by
 * fetching the blocks in between from peers and applying them with the core's state transition.
 *
 * Order of work, so that nothing changes before we know the replay can run (geth's `Recoverable()`):
 * the starting state's root node is present, the target is ahead but within `maxReplayBlocks`, some
 * peer on our chain claims the blocks, and the hash chain from the start height to the target is
 * established — headers fetched top-down, each one hashing to the parent hash of the one above,
 * the top one to the verified target hash — and the header at the start height commits to the
 * starting root. Any of these failing is a `NotApplicableError` with the store untouched.
 *
 * Then blocks are fetched in windows and applied one at a time. Each block's header must hash to
 * the established chain hash at its height, so its state root and tx root are the verified chain's;
 * each good block's new nodes are written with the replay's progress [targetHash, height, root] in
 * ONE atomic write, so a kill loses at most the block being applied and a restart for the same
 * target resumes from the progress.
 *
 * Security considerations — who is at fault:
 * - A block whose header does not hash to the chain, whose transactions do not match its verified
 *   tx root (TX_ROOT_MISMATCH), or that does not decode, is provably bad: the peer is charged and
 *   the block fetched from another peer. Nothing of it is written.
 * - A block that matches the verified header (hash and tx root) but does not apply — its result is
 *   not the header's state root, or a transaction breaks a rule — cannot be the peer's fault: our
 *   starting state (or the chain) is wrong. The replay stops with `ReplayError` naming the block,
 *   no peer is charged, and nothing past the last good block is committed.
 * - Nothing here marks the state complete: the recovery manager verifies the result and writes the
 *   completion marker.
 */
import { equals, toHex } from '../bytes.ts'
import { applyBlock } from '../chain/apply.ts'
import { type Block, encodeBlock } from '../chain/block.ts'
import { ChainError } from '../chain/errors.ts'
import { headerHash } from '../chain/header.ts'
import { StateDB } from '../chain/state.ts'
import { MissingNodeError, NodeDecodeError, RootsyncError } from '../errors.ts'
import { META } from '../meta-keys.ts'
import { LIMITS } from '../protocol/messages.ts'
import { asBytes, asList, asSafeInt, rlpDecode, rlpEncode } from '../rlp.ts'
import { throwIfStopped } from '../task.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import {
  blockPeers,
  type HashChain,
  linkHeaders,
  type Pool,
  peerPool,
  reasonsText,
  request,
} from './replay-chain.ts'
import { NotApplicableError, type StrategyContext } from './types.ts'

export interface ReplayStart {
  height: number
  root: Uint8Array
  /** Hash of the header at `height` when known (a snapshot record, the genesis): checked against the chain. */
  headerHash?: Uint8Array
  /**
   * The starting state's nodes when they are not stored yet (the genesis state), children before
   * parents: written only once the chain is established and its header commits to `root`.
   */
  nodes?: readonly (readonly [Uint8Array, Uint8Array])[]
}

export interface ReplayResult {
  /** The height blocks were applied from (the resumed height after a resume). */
  from: number
  /** The target height, reached. */
  height: number
  root: Uint8Array
  /** Blocks applied by this call. */
  applied: number
  resumed: boolean
}

export type ReplayErrorCode =
  /** A block matching the verified header gives another state root: the starting state or chain is wrong. */
  | 'REPLAY_ROOT_MISMATCH'
  /** A block matching the verified header breaks a rule on our state (nonce, balance…): same cause. */
  | 'REPLAY_BLOCK_REFUSED'
  /** The starting state is missing or has corrupt nodes the blocks need. */
  | 'REPLAY_STATE_DAMAGED'
  /** No peer left that can serve a good block at `height`. */
  | 'REPLAY_BLOCKS_UNAVAILABLE'

/** A replay that started and could not finish; nothing past `lastGood` was committed. */
export class ReplayError extends RootsyncError {
  constructor(
    code: ReplayErrorCode,
    message: string,
    details: { height: number; lastGood: number } & Record<string, unknown>,
  ) {
    super(code, message, details)
    this.name = 'ReplayError'
  }
}

/** What the last replay committed: RLP [targetHash, height, root] (META.replayProgress). */
export interface ReplayProgress {
  target: Uint8Array
  height: number
  root: Uint8Array
}

export const encodeReplayProgress = (p: ReplayProgress): Uint8Array => rlpEncode([p.target, p.height, p.root])

/** The stored progress, or null (none, or unreadable: a damaged record is only a lost resume point). */
export async function readReplayProgress(
  ctx: Pick<StrategyContext, 'store'>,
): Promise<ReplayProgress | null> {
  const b = await ctx.store.getMeta(META.replayProgress)
  if (!b) return null
  try {
    const l = asList(rlpDecode(b), 'replay progress', 3)
    const target = asBytes(l[0], 'replay target', 32)
    const root = asBytes(l[2], 'replay root', 32)
    if (target.length !== 32 || root.length !== 32) return null
    return { target, height: asSafeInt(l[1], 'replay height'), root }
  } catch {
    return null
  }
}

const hasRoot = (ctx: StrategyContext, root: Uint8Array) =>
  isEmptyRoot(root) ? Promise.resolve(true) : ctx.store.hasNode(root)

/** Throws (before anything is written) unless a replay from `start` to the target can run. */
async function establish(
  ctx: StrategyContext,
  start: ReplayStart,
): Promise<{ pool: Pool; chain: HashChain }> {
  const target = ctx.target.header.number
  if (!(await hasRoot(ctx, start.root)) && !start.nodes?.length)
    throw new NotApplicableError(
      'REPLAY_START_MISSING',
      `the starting state's root ${toHex(start.root)} (height ${start.height}) is not in the store`,
    )
  if (target <= start.height)
    throw new NotApplicableError(
      'REPLAY_NOT_BEHIND',
      `the starting state (height ${start.height}) is not behind the target (height ${target})`,
    )
  if (target - start.height > ctx.options.maxReplayBlocks)
    throw new NotApplicableError(
      'REPLAY_TOO_FAR',
      `${target - start.height} blocks from height ${start.height} to ${target}; at most ${ctx.options.maxReplayBlocks} are replayed`,
      { blocks: target - start.height },
    )
  const { peers, reasons } = await blockPeers(ctx)
  if (!peers.length)
    throw new NotApplicableError(
      'REPLAY_NO_PEERS',
      `no peer on chain ${ctx.chainId} claims blocks up to ${target}${reasons.length ? `: ${reasons.join('; ')}` : ''}`,
    )
  const pool = peerPool(ctx, peers)
  const chain = await linkHeaders(ctx, pool, start.height)
  const first = chain.headers[0]!
  if (
    !equals(first.stateRoot, start.root) ||
    (start.headerHash && !equals(chain.hashes[0]!, start.headerHash))
  )
    throw new NotApplicableError(
      'REPLAY_START_NOT_ON_CHAIN',
      `the verified chain's header ${start.height} does not commit to the starting state ${toHex(start.root)}`,
    )
  return { pool, chain }
}

/**
 * Not applicable because of the starting state itself (its root is not stored, or the chain does
 * not commit to it): another, older start may still do.
 */
export const startUnusable = (e: unknown): e is NotApplicableError =>
  e instanceof NotApplicableError &&
  (e.code === 'REPLAY_START_MISSING' || e.code === 'REPLAY_START_NOT_ON_CHAIN')

/** A block that matches the verified header but does not apply: never the peer's fault. */
function stopOn(e: unknown, height: number): unknown {
  const at = { height, lastGood: height - 1 }
  if (e instanceof ChainError && e.code === 'STATE_ROOT_MISMATCH')
    return new ReplayError('REPLAY_ROOT_MISMATCH', `replay stopped at block ${height}: ${e.message}`, {
      ...at,
      ...e.details,
    })
  if (e instanceof ChainError)
    return new ReplayError(
      'REPLAY_BLOCK_REFUSED',
      `replay stopped at block ${height}: ${e.message} (${e.code})`,
      {
        ...at,
        reason: e.code,
      },
    )
  if (e instanceof MissingNodeError || e instanceof NodeDecodeError)
    return new ReplayError('REPLAY_STATE_DAMAGED', `replay stopped at block ${height}: ${e.message}`, at)
  return e
}

/** Writes the genesis (or other not-yet-stored) starting state in order, children before parents. */
async function writeStartNodes(ctx: StrategyContext, start: ReplayStart): Promise<void> {
  if (!start.nodes?.length || (await hasRoot(ctx, start.root))) return
  // Children are written before the nodes that point to them, so a stored node always has its subtree.
  for (let i = 0; i < start.nodes.length; i += 10_000) {
    throwIfStopped(ctx.signal, 'block replay')
    const part = start.nodes.slice(i, i + 10_000)
    await ctx.store.write({ nodes: part })
    ctx.counters.nodes += part.length
  }
}

/** Replays the blocks from `start` (or from a stored progress for this target) to `ctx.target`. */
export async function replayBlocks(ctx: StrategyContext, start: ReplayStart): Promise<ReplayResult> {
  const target = ctx.target.header.number
  const { pool, chain } = await establish(ctx, start)
  // Resume: progress for this very target, at a height of the established chain, with its root stored.
  let at = { height: start.height, root: start.root }
  const saved = await readReplayProgress(ctx)
  const resumed =
    !!saved &&
    equals(saved.target, ctx.target.hash) &&
    saved.height > start.height &&
    saved.height <= target &&
    equals(chain.headers[saved.height - chain.from]!.stateRoot, saved.root) &&
    (await hasRoot(ctx, saved.root))
  if (resumed) at = { height: saved!.height, root: saved!.root }
  else await writeStartNodes(ctx, start)
  const from = at.height
  let state = new StateDB(ctx.store, at.root)
  ctx.progress('replaying')
  while (at.height < target) {
    const peer = pool.next()
    if (!peer)
      throw new ReplayError(
        'REPLAY_BLOCKS_UNAVAILABLE',
        `no peer served a good block ${at.height + 1}: ${reasonsText(pool)}`,
        { height: at.height + 1, lastGood: at.height, reasons: pool.reasons() },
      )
    const count = Math.min(LIMITS.maxBlocks, target - at.height)
    let blocks: Block[]
    try {
      blocks = await request(ctx, peer, 'blocks', (s) => peer.wire.blocks(at.height + 1, count, s))
    } catch (e) {
      pool.failed(peer, e, `blocks from ${at.height + 1}`)
      continue
    }
    for (const b of blocks) ctx.counters.bytes += encodeBlock(b).length
    if (!blocks.length) pool.setAside(peer, `blocks: none from ${at.height + 1}`)
    for (const block of blocks.slice(0, count)) {
      throwIfStopped(ctx.signal, 'block replay')
      const height = at.height + 1
      if (
        block.header.number !== height ||
        !equals(headerHash(block.header), chain.hashes[height - chain.from]!)
      ) {
        pool.bad(peer, `block ${height} does not match the verified chain`)
        break
      }
      let applied: Awaited<ReturnType<typeof applyBlock>>
      try {
        applied = await applyBlock(state, block, ctx.chainId)
      } catch (e) {
        if (e instanceof ChainError && e.code === 'TX_ROOT_MISMATCH') {
          pool.bad(peer, e.message)
          break
        }
        throw stopOn(e, height)
      }
      const { commit } = applied
      await ctx.store.write({
        nodes: commit.nodes,
        meta: [
          [META.replayProgress, encodeReplayProgress({ target: ctx.target.hash, height, root: commit.root })],
        ],
      })
      commit.markStored()
      state = applied.state
      at = { height, root: commit.root }
      ctx.counters.blocks++
      ctx.counters.nodes += commit.nodes.length
      ctx.progress('replaying')
    }
    // Loaded nodes are written by now: drop them so memory stays flat over many windows.
    state.unload()
  }
  return { from, height: target, root: at.root, applied: at.height - from, resumed }
}
