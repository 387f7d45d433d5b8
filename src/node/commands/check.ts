/**
 * `rootsync check`: one consistency check of the state synced into DIR against sampled peers
 * (core/consistency, driven by core/light/check-once.ts) — the signed header at the state's height
 * from each peer, and sampled (plus watched) accounts proven at the local root. Local damage is
 * repaired (unless --no-repair); liars are charged and never change the local state.
 *
 * Exit status: 0 consistent (or every discrepancy repaired, or only liars charged); 3 discrepancies
 * remain (reported, not repaired); 4 equivocation — two headers at one height each carry a validator
 * quorum — with the evidence written to a file it names (evidence is kept in the store, so a later
 * check exits 4 too until it is acknowledged). 1 for other errors (no complete state to check, …).
 */
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { fromHexExact } from '../../core/bytes.ts'
import { createRng } from '../../core/chain/rng.ts'
import { unresolved } from '../../core/consistency/check.ts'
import { acknowledgeEvidence, readEvidence } from '../../core/consistency/records.ts'
import {
  type ConsistencyEvent,
  type ConsistencyResult,
  DEFAULT_CONSISTENCY_OPTIONS,
  type EquivocationEvidence,
} from '../../core/consistency/types.ts'
import { RootsyncError } from '../../core/errors.ts'
import { checkOnce } from '../../core/light/check-once.ts'
import type { LightEvent } from '../../core/light/events.ts'
import { strategiesNamed } from '../../core/recovery/strategies.ts'
import { DEFAULT_STRATEGIES } from '../../core/recovery/types.ts'
import { realClock } from '../../platform/clock.ts'
import { LevelNodeStore } from '../../store/level-store.ts'
import { openLightRun, TRUST_OPTIONS, TRUST_USAGE } from './light-run.ts'
import { intOption, readJson, UsageError } from './usage.ts'

export const CHECK_USAGE = `rootsync check --data DIR [--bootstrap FILE] [--peer MULTIADDR...] [--accounts N] [--peers N]
      [--seed S] [--watch ADDRESS...] [--no-repair] [--evidence FILE] [--json]
      ${TRUST_USAGE}
      (exit 0 consistent or repaired; 3 discrepancies remain; 4 equivocation, evidence written to
       --evidence FILE, default DIR/evidence-<height>.json)
  rootsync check --data DIR --acknowledge EVIDENCE_ID
      (the user has seen the equivocation evidence and decided to go on: reads and checks resume)`

/** Exit statuses of `rootsync check` besides 0 (consistent) and 1 (could not check). */
export const CHECK_EXIT = { discrepancies: 3, equivocation: 4 } as const

/** The check ran and found what it could not settle: its exit status says which. */
export class CheckFailedError extends RootsyncError {
  readonly exitCode: number
  constructor(code: 'DISCREPANCIES_REMAIN' | 'EQUIVOCATION', message: string) {
    super(code, message)
    this.name = 'CheckFailedError'
    this.exitCode = code === 'EQUIVOCATION' ? CHECK_EXIT.equivocation : CHECK_EXIT.discrepancies
  }
}

export async function check(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      peer: { type: 'string', multiple: true },
      bootstrap: { type: 'string' },
      accounts: { type: 'string' },
      peers: { type: 'string' },
      seed: { type: 'string' },
      watch: { type: 'string', multiple: true },
      'no-repair': { type: 'boolean' },
      evidence: { type: 'string' },
      json: { type: 'boolean' },
      acknowledge: { type: 'string' },
      ...TRUST_OPTIONS,
    },
  })
  if (values.acknowledge !== undefined) return acknowledge(values.data, values.acknowledge)
  const watched = (values.watch ?? []).map((a) => {
    try {
      return fromHexExact(a, 20, '--watch')
    } catch (e) {
      throw new UsageError(`--watch: ${(e as Error).message}`)
    }
  })
  const consistency = {
    ...DEFAULT_CONSISTENCY_OPTIONS,
    intervalMs: 0,
    accounts: intOption(values.accounts, 'accounts', DEFAULT_CONSISTENCY_OPTIONS.accounts, 0),
    peers: intOption(values.peers, 'peers', DEFAULT_CONSISTENCY_OPTIONS.peers),
    autoRepair: !values['no-repair'],
  }
  const rng = values.seed === undefined ? null : createRng(values.seed)
  const run = await openLightRun(values)
  // Block replay from genesis (a recovery the check escalates to) needs the genesis file beside the
  // bootstrap, as for `rootsync recover`.
  const genesisFile = join(dirname(run.bootstrapFile), 'genesis.json')
  const genesis = await readJson(genesisFile, 'genesis file').catch(() => undefined)
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const task = checkOnce(
    {
      config: run.config,
      store: run.store,
      peers: { list: () => run.peers },
      clock: realClock,
      emit: (e) => tellLight(e, say),
      options: { statusGraceMs: 2000 },
    },
    {
      consistency,
      random: rng ? () => rng.u32() / 0x1_0000_0000 : Math.random,
      watched,
      strategies: strategiesNamed(DEFAULT_STRATEGIES),
      recovery: { genesis },
      now: () => Date.now(),
      onConsistency: (e) => tellCheck(e, say),
    },
  )
  const onSig = () => task.stop('interrupted')
  process.once('SIGINT', onSig)
  try {
    const { result } = await task.done
    const open = (await readEvidence(run.store)).filter((e) => e.acknowledgedAt === null)
    const evidenceFile = open.length
      ? await writeEvidence(values.evidence ?? join(values.data!, `evidence-${open[0]!.height}.json`), open)
      : null
    const remaining = unresolved(result)
    if (values.json) process.stdout.write(`${JSON.stringify({ ...result, evidenceFile })}\n`)
    else printResult(result)
    if (evidenceFile) {
      say(`equivocation evidence written to ${evidenceFile}`)
      throw new CheckFailedError(
        'EQUIVOCATION',
        `equivocation at block ${open.map((e) => e.height).join(', ')}: validators ${signers(open)} signed two headers at one height; evidence in ${evidenceFile}`,
      )
    }
    if (remaining.length)
      throw new CheckFailedError(
        'DISCREPANCIES_REMAIN',
        `${remaining.length} ${remaining.length === 1 ? 'discrepancy remains' : 'discrepancies remain'} (${values['no-repair'] ? 'repair is off' : 'repair failed'}): ${remaining.map((d) => d.kind).join(', ')}`,
      )
  } finally {
    process.off('SIGINT', onSig)
    await run.close()
  }
}

/**
 * Marks stored evidence as seen: the user decided to go on (checks stop exiting 4 for it, the app
 * answers reads again). The evidence itself is kept. Needs no peer.
 */
async function acknowledge(data: string | undefined, id: string): Promise<void> {
  if (!data) throw new UsageError('--data DIR is required')
  const store = await LevelNodeStore.open(join(data, 'db'))
  try {
    const e = await acknowledgeEvidence(store, id, Date.now())
    process.stdout.write(`acknowledged the equivocation evidence ${e.id} at block ${e.height}\n`)
  } finally {
    await store.close()
  }
}

async function writeEvidence(file: string, evidence: EquivocationEvidence[]): Promise<string> {
  await writeFile(file, `${JSON.stringify(evidence, null, 2)}\n`)
  return file
}

const signers = (evidence: EquivocationEvidence[]) =>
  [...new Set(evidence.flatMap((e) => e.doubleSigners.map((s) => `#${s.index}`)))].join(', ')

function printResult(r: ConsistencyResult): void {
  const out = process.stdout
  out.write(
    `${r.summary}: block ${r.height}, state root ${r.root}; ${r.accountMatches} of ${r.sampled} sampled paths confirmed by peers\n`,
  )
  for (const p of r.peers)
    out.write(
      `  peer ${p.peer}: header ${p.root}, ${p.proofsValid} proofs valid, ${p.proofsInvalid} invalid, ${p.proofsUnavailable} unavailable${p.charged ? ` — charged: ${p.charged}` : ''}\n`,
    )
  for (const d of r.discrepancies) out.write(`  ${d.kind} (${d.action}): ${d.detail}\n`)
  if (r.repaired.length) out.write(`  repaired: ${r.repaired.join(', ')}\n`)
  if (r.recovery)
    out.write(`  recovery: ${r.recovery.strategy ? `recovered by ${r.recovery.strategy}` : 'failed'}\n`)
}

/** The check's progress, on stderr as it happens (stdout stays the result). */
function tellCheck(e: ConsistencyEvent, say: (s: string) => void): void {
  if (e.type === 'consistency-started')
    say(
      `checking block ${e.height} (state root ${e.root}) against ${e.peers.length} peers, ${e.accounts} accounts`,
    )
  else if (e.type === 'consistency-progress') say(`  ${e.checked}/${e.total} paths checked`)
  else if (e.type === 'equivocation')
    say(
      `  EQUIVOCATION at block ${e.evidence.height} from ${e.evidence.peer}: double signers ${signers([e.evidence])}`,
    )
  else if (e.type === 'consistency-finished') say(`  ${e.result.summary}`)
}

function tellLight(e: LightEvent, say: (s: string) => void): void {
  if (e.type === 'stored-head-ignored')
    say(`ignoring the stored head (${e.code}: ${e.reason}); verifying from the checkpoint`)
  else if (e.type === 'peer-charged' && e.kind === 'banned') say(`  banned ${e.peer}: ${e.reason}`)
  else if (e.type === 'recovery-started')
    say(`  recovering the state at block ${e.target.height}: trying ${e.strategies.join(', ')}`)
  else if (e.type === 'recovery-attempt')
    say(
      `  ${e.attempt.strategy}: ${e.attempt.outcome}${e.attempt.reason ? ` (${e.attempt.reason.code}: ${e.attempt.reason.message})` : ''}`,
    )
}
