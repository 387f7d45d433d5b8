/**
 * The local-snapshot recovery strategy: restore the target's state from a complete state the store
 * kept (snapshots.ts), checking it first and replaying the blocks from it to the target if it is
 * older (replay.ts).
 *
 * Snapshots at or below the target are tried newest first. One whose root node is gone (pruned) is
 * skipped; one whose check finds damage is skipped with the reason, and the next older one tried.
 *
 * Security considerations: the snapshot record is local data, so it decides nothing by itself: its
 * nodes are checked against its root before use, and its root is used only if the verified chain
 * commits to it — at the target height it must be the target's own root and header hash; below, the
 * replay links its header hash to the target before applying anything.
 */
import { equals, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { StateIntegrityError } from '../sync/verify.ts'
import { isEmptyRoot } from '../trie/trie.ts'
import { assertClean, checkState } from './integrity.ts'
import { replayBlocks, startUnusable } from './replay.ts'
import { readSnapshots, type SnapshotRecord } from './snapshots.ts'
import { NotApplicableError, type RecoveryStrategy, type StrategyContext } from './types.ts'

/** Every usable snapshot failed its check: each one's reason. */
export class LocalSnapshotsDamagedError extends RootsyncError {
  constructor(readonly reasons: { height: number; reason: string }[]) {
    super(
      'LOCAL_SNAPSHOTS_DAMAGED',
      `no local snapshot passed its check: ${reasons.map((r) => `height ${r.height}: ${r.reason}`).join('; ')}`,
      { reasons },
    )
    this.name = 'LocalSnapshotsDamagedError'
  }
}

/**
 * The one place a snapshot is checked before use. Both modes walk the whole state for now; the
 * sampled check (recovery/integrity.ts) replaces the walk for `snapshotCheck: 'sampled'`.
 */
async function checkSnapshot(ctx: StrategyContext, root: Uint8Array): Promise<void> {
  ctx.progress('checking')
  const o = ctx.options
  const r = await checkState(ctx.store, root, o.snapshotCheck, { signal: ctx.signal, paths: o.samplePaths })
  ctx.counters.nodes += r.nodes + r.code
  assertClean(r)
}

const checkFailure = (e: unknown): string | null =>
  e instanceof StateIntegrityError ? `${e.code}: ${e.message}` : null

/** Why `s` cannot stand for the target at the target's own height, or null if it can. */
function mismatchAtTarget(ctx: StrategyContext, s: SnapshotRecord): string | null {
  if (s.height !== ctx.target.header.number) return null
  if (equals(s.root, ctx.target.header.stateRoot) && equals(s.headerHash, ctx.target.hash)) return null
  return `its root ${toHex(s.root)} is not the target's`
}

export const localSnapshotStrategy: RecoveryStrategy = {
  name: 'local',
  async run(ctx) {
    const records = await readSnapshots(ctx.store)
    const candidates = records.filter((s) => s.height <= ctx.target.header.number)
    const skipped: { height: number; reason: string }[] = []
    const damaged: { height: number; reason: string }[] = []
    for (const s of candidates) {
      const unusable = mismatchAtTarget(ctx, s)
      if (unusable) {
        skipped.push({ height: s.height, reason: unusable })
        continue
      }
      if (!isEmptyRoot(s.root) && !(await ctx.store.hasNode(s.root))) {
        skipped.push({ height: s.height, reason: 'its root node is not stored' })
        continue
      }
      try {
        await checkSnapshot(ctx, s.root)
      } catch (e) {
        const reason = checkFailure(e)
        if (!reason) throw e
        damaged.push({ height: s.height, reason })
        continue
      }
      if (s.height === ctx.target.header.number) return
      try {
        await replayBlocks(ctx, { height: s.height, root: s.root, headerHash: s.headerHash })
        return
      } catch (e) {
        // The verified chain does not commit to this snapshot (nothing was changed): try an older one.
        if (!startUnusable(e)) throw e
        skipped.push({ height: s.height, reason: e.message })
      }
    }
    if (damaged.length) throw new LocalSnapshotsDamagedError([...damaged, ...skipped])
    throw new NotApplicableError(
      'NO_LOCAL_SNAPSHOT',
      `no usable local snapshot at or below height ${ctx.target.header.number}${
        records.corrupt ? ` (${records.corrupt.message})` : ''
      }${skipped.length ? `: ${skipped.map((r) => `height ${r.height}: ${r.reason}`).join('; ')}` : ''}`,
      { skipped },
    )
  },
}
