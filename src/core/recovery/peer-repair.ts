/**
 * Peer state sync as repair (seed §7.2, issue item 4): re-sync to the target root from peers,
 * skipping what is stored — after first removing what the store must no longer vouch for.
 *
 * The sync engine skips a stored node's whole subtree ("stored node ⇒ complete subtree"). A missing
 * or corrupt node breaks that rule for every ancestor above it: left alone, the sync would skip the
 * damaged subtree and never fetch it again. So this strategy:
 * 1. checks it applies, changing nothing: there is a local state to repair (a completed-state record
 *    or the repair flag, and stored nodes — a first sync is not a repair), and some peer serves the
 *    target root (probed, hash-checked);
 * 2. finds the damage: a full walk (integrity.ts `findDamage`) of the stored state (and of the target
 *    root, if stored), plus the entry the repair flag names;
 * 3. in ONE atomic write deletes the damaged entries and every ancestor that vouched for them, drops
 *    the completed-state record (the state is no longer complete) and sets the repair flag (so a kill
 *    from here on leaves a store that says it needs repair, and the next attempt still applies);
 * 4. syncs to the target root with the sync engine, which downloads only what is not stored — the
 *    damaged paths, plus whatever differs between the stored state and the target;
 * 5. walks the result: entries under a damaged node were never walked (their parent could not be
 *    read), so damage can hide there; anything found goes through 3–4 again, a bounded number of times.
 * The sync writes its own root record when done; the manager verifies and writes the completion marker.
 *
 * Security considerations: nothing here decides what is true. Deleting only ever costs a download;
 * every node stored comes through the sync engine, hashed against the target root a verified header
 * commits to. A peer that answers the root probe with bytes that do not hash to the root is charged.
 */
import { equals, fromHex, toHex } from '../bytes.ts'
import { RootsyncError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import { type LightPeer, timed } from '../light/peers.ts'
import { readRepair, repairRecord } from '../light/trust.ts'
import { META } from '../meta-keys.ts'
import { readSyncedRoot, startSync } from '../sync/state-sync.ts'
import type { SyncPeer } from '../sync/types.ts'
import { type DamageReport, findDamage, isClean } from './integrity.ts'
import { readSnapshots } from './snapshots.ts'
import { NotApplicableError, type RecoveryStrategy, type StrategyContext } from './types.ts'

/** Walk-delete-sync rounds before giving up (each round removes what the previous walk found). */
export const MAX_REPAIR_ROUNDS = 4
/** Damage records a repair acts on per round (the rest is found by the next round's walk). */
const DAMAGE_LIMIT = 200_000

/** The repair synced, but the result still walks damaged after `MAX_REPAIR_ROUNDS` rounds. */
export class RepairIncompleteError extends RootsyncError {
  constructor(report: DamageReport) {
    const n = report.damage.length + report.omitted
    super(
      'REPAIR_INCOMPLETE',
      `the state under ${report.root} still has ${n} damaged entries after ${MAX_REPAIR_ROUNDS} repair rounds`,
      { damaged: n },
    )
    this.name = 'RepairIncompleteError'
  }
}

export const peerRepairStrategy: RecoveryStrategy = {
  name: 'peer',
  async run(ctx: StrategyContext): Promise<void> {
    const { store, signal } = ctx
    const root = ctx.target.header.stateRoot
    await store.ready()
    const [synced, repair, snaps] = await Promise.all([
      readSyncedRoot(store),
      readRepair(store),
      readSnapshots(store),
    ])
    if ((!synced && !repair && !snaps.length) || store.stats().nodes === 0)
      throw new NotApplicableError(
        'NO_LOCAL_STATE',
        'there is no local state to repair (a first sync is a sync, not a repair)',
      )
    const peers = ctx.peers()
    if (!peers.length) throw new NotApplicableError('NO_PEERS', 'no peer to repair from')
    if (!(await someoneServes(ctx, peers, root)))
      throw new NotApplicableError('ROOT_NOT_SERVED', `no peer serves the target state root ${toHex(root)}`, {
        root: toHex(root),
      })

    ctx.progress('checking')
    const doomed = new Map<string, Uint8Array>()
    const walked = new Set<string>()
    // The target's own state, stored and walked clean: nothing deleted below belongs to it (a node of
    // it above damage would have shown that damage in its walk), so it needs no second walk.
    let targetClean = false
    // The completed state, the newest local snapshot, and the target if some of it is stored.
    for (const r of [synced?.root, snaps[0]?.root, (await store.hasNode(root)) ? root : undefined]) {
      if (!r || walked.has(toHex(r))) continue
      walked.add(toHex(r))
      const report = await findDamage(store, r, { signal, limit: DAMAGE_LIMIT })
      if (equals(r, root)) targetClean = isClean(report)
      collect(report, doomed)
    }
    // The flagged entry, if the walks did not meet it: its bytes are checked, and dropped if wrong.
    // (Its ancestors, if any are stored, show up in the walk after the sync.)
    if (repair?.hash && !doomed.has(repair.hash)) {
      const h = fromHex(repair.hash)
      const bytes = await store.getNode(h)
      if (bytes && !equals(keccak256(bytes), h)) doomed.set(repair.hash, h)
    }

    for (let round = 1; ; round++) {
      if (doomed.size) {
        await store.write({
          deleteNodes: doomed.values(),
          meta: [
            [META.stateRoot, null],
            ...(repair ? [] : [repairRecord({ reason: 'peer repair in progress', hash: null })]),
          ],
        })
        ctx.progress('repairing')
      }
      await syncTo(ctx, root)
      if (targetClean) return
      ctx.progress('checking')
      const after = await findDamage(store, root, { signal, limit: DAMAGE_LIMIT })
      if (isClean(after)) return
      if (round >= MAX_REPAIR_ROUNDS) throw new RepairIncompleteError(after)
      doomed.clear()
      collect(after, doomed)
    }
  },
}

/** Every damaged entry and every ancestor that vouched for it, by hex hash. */
function collect(report: DamageReport, into: Map<string, Uint8Array>): void {
  for (const d of report.damage)
    for (const h of [...d.ancestors, d.hash]) if (!into.has(h)) into.set(h, fromHex(h))
}

/**
 * True once one peer returns the root node, hash-checked (the others are then not waited for);
 * false when every peer lacks it, fails or times out. A peer answering with other bytes is charged.
 */
async function someoneServes(ctx: StrategyContext, peers: LightPeer[], root: Uint8Array): Promise<boolean> {
  const found = new AbortController()
  const onAbort = () => found.abort(ctx.signal.reason)
  ctx.signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await new Promise<boolean>((resolve, reject) => {
      let left = peers.length
      const none = () => {
        if (--left === 0) resolve(false)
      }
      for (const p of peers)
        timed(ctx.clock, found.signal, ctx.options.requestTimeoutMs, p.id, 'root probe', (s) =>
          p.wire.nodes([root], s),
        ).then(
          ([b]) => {
            if (b?.length) ctx.counters.bytes += b.length
            if (b?.length && equals(keccak256(b), root)) return resolve(true)
            if (b?.length) ctx.charge(p.id, 'answered the root probe with bytes that do not hash to the root')
            none()
          },
          () => (ctx.signal.aborted ? reject(ctx.signal.reason) : none()),
        )
    })
  } finally {
    ctx.signal.removeEventListener('abort', onAbort)
    found.abort()
  }
}

/** The sync engine to `root`, skipping what is stored; its downloads counted in the attempt's counters. */
async function syncTo(ctx: StrategyContext, root: Uint8Array): Promise<void> {
  const base = { bytes: ctx.counters.bytes, nodes: ctx.counters.nodes }
  const asSyncPeer = (p: LightPeer): SyncPeer => ({
    id: p.id,
    getNodes: (hashes, signal) => p.wire.nodes(hashes, signal),
  })
  const task = startSync(root, ctx.target.header.number, {
    store: ctx.store,
    peers: ctx.peers().map(asSyncPeer),
    clock: ctx.clock,
    signal: ctx.signal,
    // The store holds most of the state: always ask it before downloading a subtree.
    config: { requestTimeoutMs: ctx.options.requestTimeoutMs, ...ctx.options.sync, checkPresence: true },
    onEvent: (e) => {
      if (e.type === 'progress') {
        ctx.counters.bytes = base.bytes + e.progress.bytesDownloaded
        ctx.counters.nodes = base.nodes + e.progress.nodesProcessed
        ctx.progress('syncing')
      } else if (e.type === 'peer-banned') ctx.charge(e.peer, e.reason)
    },
  })
  const r = await task.done
  ctx.counters.bytes = base.bytes + r.bytes
  ctx.counters.nodes = base.nodes + r.nodes
}
