/**
 * `rootsync verify`: check the state synced into a data directory and report every damaged entry —
 * missing, corrupt (bytes that do not hash to their key) or undecodable — with its hash and where it
 * sits (core/recovery/integrity.ts). A full walk by default; `--sample N` checks N random paths
 * (into storage tries and code). It only reads: verify is always a dry run (`--dry-run` is accepted
 * to say so); repairing is `rootsync recover`'s job. Exit status 0 when clean, 1 on damage.
 *
 * A damaged LevelDB file can make a read fail outright rather than return wrong bytes: such an entry
 * is reported as missing (it cannot be read), with LevelDB's error as the detail, and the walk goes on.
 */
import { parseArgs } from 'node:util'
import { toHex } from '../../core/bytes.ts'
import { RootsyncError } from '../../core/errors.ts'
import { readRepair } from '../../core/light/trust.ts'
import {
  type DamageRecord,
  type DamageReport,
  findDamage,
  sampleCheck,
} from '../../core/recovery/integrity.ts'
import { readSyncedRoot } from '../../core/sync/state-sync.ts'
import type { WalkSource } from '../../core/trie/reachable.ts'
import { LevelNodeStore } from '../../store/level-store.ts'
import { intOption, UsageError } from './usage.ts'

export const VERIFY_USAGE = `rootsync verify --data DIR [--sample N] [--dry-run] [--json]
      (a full walk, or N random paths with --sample; only reports — --dry-run is implied, accepted for clarity;
       exit 1 when damage is found)`

/** The state is damaged: the report was printed; the exit status says so. */
export class StateDamagedError extends RootsyncError {
  constructor(report: DamageReport) {
    const n = report.damage.length + report.omitted
    super(
      'STATE_DAMAGED',
      `state root ${report.root} is damaged: ${n} damaged ${n === 1 ? 'entry' : 'entries'}`,
      {
        damaged: n,
      },
    )
    this.name = 'StateDamagedError'
  }
}

export async function verify(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      json: { type: 'boolean' },
      sample: { type: 'string' },
      'dry-run': { type: 'boolean' },
    },
  })
  if (!values.data) throw new UsageError('--data DIR is required')
  const sample = values.sample === undefined ? null : intOption(values.sample, 'sample', 64)
  const store = await LevelNodeStore.open(`${values.data}/db`)
  try {
    const synced = await readSyncedRoot(store)
    if (!synced)
      throw new RootsyncError(
        'NO_SYNCED_STATE',
        `${values.data} holds no completed state (never synced, the sync was interrupted, or a repair is under way)`,
      )
    const unreadable = new Map<string, string>()
    const reader = tolerantReader(store, unreadable)
    const started = performance.now()
    const report =
      sample === null
        ? await findDamage(reader, synced.root)
        : await sampleCheck(reader, synced.root, { paths: sample })
    const seconds = (performance.now() - started) / 1000
    const damage = report.damage.map((d) =>
      unreadable.has(d.hash) ? { ...d, detail: `unreadable: ${unreadable.get(d.hash)}` } : d,
    )
    const ok = damage.length === 0 && report.omitted === 0
    const summary = {
      ok,
      root: toHex(synced.root),
      height: synced.height,
      mode: report.mode,
      paths: 'paths' in report ? (report.paths as number) : null,
      nodes: report.nodes,
      code: report.code,
      accounts: report.accounts,
      bytes: report.bytes,
      seconds: Number(seconds.toFixed(3)),
      damage,
      omitted: report.omitted,
      repair: await readRepair(store),
    }
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
    else printReport(summary, damage)
    if (!ok) throw new StateDamagedError(report)
  } finally {
    await store.close()
  }
}

function printReport(
  s: Omit<DamageReport, 'damage'> & {
    ok: boolean
    height: number
    paths: number | null
    seconds: number
    repair: { reason: string } | null
  },
  damage: DamageRecord[],
): void {
  const out = process.stdout
  for (const d of damage)
    out.write(
      `${d.problem} ${d.kind} ${d.hash} at path ${d.path || '(root)'}${d.account ? ` of account ${d.account}` : ''}: ${d.detail}\n`,
    )
  const what = s.mode === 'sampled' ? `${s.paths} random paths checked` : 'verified'
  const totals = `${s.nodes} trie nodes, ${s.code} code blobs, ${s.accounts} accounts, ${(s.bytes / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(1)} s`
  if (s.ok) out.write(`ok: state root ${s.root} (block ${s.height}) ${what}: ${totals}\n`)
  else
    out.write(
      `damaged: state root ${s.root} (block ${s.height}): ${damage.length + s.omitted} damaged entries (${totals} read whole)${s.omitted ? `; ${s.omitted} more not listed` : ''}\n`,
    )
  if (s.repair) out.write(`note: the store is flagged for repair (${s.repair.reason})\n`)
}

/**
 * The store's reads for a check that must go on past a damaged file: a multi-get that fails is
 * retried key by key, and a key whose read fails reads as absent, its error kept for the report.
 */
function tolerantReader(store: LevelNodeStore, unreadable: Map<string, string>): WalkSource {
  const one = async (h: Uint8Array) => {
    try {
      return await store.getNode(h)
    } catch (e) {
      unreadable.set(toHex(h), (e as Error).message)
      return undefined
    }
  }
  return {
    getNode: one,
    getNodes: async (hs) => {
      try {
        return await store.getNodes(hs)
      } catch {
        return Promise.all(hs.map(one))
      }
    },
  }
}
