/**
 * The block-replay recovery strategy: from the newest complete local state below the target — the
 * last completed sync's root record, a local snapshot, or this target's own replay progress — or,
 * when there is none, from the genesis state built from the genesis file, replay the blocks up to
 * the target (replay.ts).
 *
 * Security considerations: a local start is only a candidate: replay.ts checks its root node is
 * stored and that the verified chain's header at its height commits to it. The genesis state is
 * built locally from the genesis file and used only if its header hash is the chain's block-0 hash,
 * linked by hash from the verified target; its nodes are written only then.
 */
import { equals } from '../bytes.ts'
import { ChainError } from '../chain/errors.ts'
import { genesisHeader, genesisStateRoot, parseGenesis } from '../chain/genesis.ts'
import { headerHash } from '../chain/header.ts'
import { readSyncedRoot } from '../sync/root-record.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import { type ReplayStart, readReplayProgress, replayBlocks, startUnusable } from './replay.ts'
import { readSnapshots } from './snapshots.ts'
import { NotApplicableError, type RecoveryStrategy, type StrategyContext } from './types.ts'

/** Complete local states below the target whose root node is stored, newest first. */
async function localStarts(ctx: StrategyContext): Promise<ReplayStart[]> {
  const below = ctx.target.header.number
  const found: ReplayStart[] = []
  const synced = await readSyncedRoot(ctx.store).catch(() => null)
  if (synced) found.push(synced)
  for (const s of await readSnapshots(ctx.store))
    found.push({ height: s.height, root: s.root, headerHash: s.headerHash })
  const progress = await readReplayProgress(ctx)
  if (progress && equals(progress.target, ctx.target.hash)) found.push(progress)
  const out: ReplayStart[] = []
  for (const s of found.sort((a, b) => b.height - a.height))
    if (s.height < below && (isEmptyRoot(s.root) || (await ctx.store.hasNode(s.root)))) out.push(s)
  return out
}

/** The genesis state from `ctx.options.genesis`, in memory (written by the replay once it is on the chain). */
function genesisStart(ctx: StrategyContext): ReplayStart | null {
  if (ctx.options.genesis === undefined) return null
  let genesis: ReturnType<typeof parseGenesis>
  try {
    genesis = parseGenesis(ctx.options.genesis)
  } catch (e) {
    if (e instanceof ChainError)
      throw new NotApplicableError('REPLAY_BAD_GENESIS', `the genesis file cannot be read: ${e.message}`)
    throw e
  }
  if (genesis.chainId !== ctx.chainId)
    throw new NotApplicableError(
      'REPLAY_BAD_GENESIS',
      `the genesis file is for chain ${genesis.chainId}, not ${ctx.chainId}`,
    )
  const nodes: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(genesis, (h, b) => nodes.push([h, b]))
  return { height: 0, root, headerHash: headerHash(genesisHeader(genesis, root)), nodes }
}

export const replayStrategy: RecoveryStrategy = {
  name: 'replay',
  async run(ctx) {
    const starts = await localStarts(ctx)
    const skipped: string[] = []
    for (const start of starts) {
      try {
        await replayBlocks(ctx, start)
        return
      } catch (e) {
        if (!startUnusable(e)) throw e
        skipped.push(`height ${start.height}: ${e.message}`)
      }
    }
    const genesis = genesisStart(ctx)
    if (!genesis)
      throw new NotApplicableError(
        'REPLAY_NO_START',
        `no complete local state below height ${ctx.target.header.number} and no genesis file${
          skipped.length ? ` (${skipped.join('; ')})` : ''
        }`,
      )
    await replayBlocks(ctx, genesis)
  },
}
