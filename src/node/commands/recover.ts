/**
 * `rootsync recover`: restore a complete, verified state in DIR at a verified header (the peers'
 * latest, or a height), trying the recovery strategies in order (core/recovery): local snapshot,
 * peer state sync (repair), block replay, network snapshot — or the ones given with --strategies.
 * Exit 0 once the state is complete and verified; 1 with every attempt's reason when it is not.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { LightEvent } from '../../core/light/events.ts'
import { recoverOnce } from '../../core/light/recover-once.ts'
import { strategiesNamed } from '../../core/recovery/strategies.ts'
import {
  type AttemptReport,
  DEFAULT_STRATEGIES,
  parseStrategies,
  StateRecoveryFailed,
} from '../../core/recovery/types.ts'
import { realClock } from '../../platform/clock.ts'
import { openLightRun, TRUST_OPTIONS, TRUST_USAGE } from './light-run.ts'
import { intOption, readJson, UsageError } from './usage.ts'

export const RECOVER_USAGE = `rootsync recover --data DIR [--bootstrap FILE] [--peer MULTIADDR...] (--latest | --height N)
      [--strategies local,peer,replay,snapshot] [--full-check] [--json]
      ${TRUST_USAGE}`

export async function recover(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      peer: { type: 'string', multiple: true },
      bootstrap: { type: 'string' },
      height: { type: 'string' },
      latest: { type: 'boolean' },
      strategies: { type: 'string' },
      'full-check': { type: 'boolean' },
      json: { type: 'boolean' },
      ...TRUST_OPTIONS,
    },
  })
  if (!values.latest === (values.height === undefined))
    throw new UsageError('give exactly one of --latest and --height N')
  const height = values.height === undefined ? 'latest' : intOption(values.height, 'height', 0, 0)
  let names = [...DEFAULT_STRATEGIES]
  if (values.strategies !== undefined) {
    try {
      names = parseStrategies(values.strategies)
    } catch (e) {
      throw new UsageError(`--strategies: ${(e as Error).message}`)
    }
  }
  const run = await openLightRun(values)
  // Block replay from genesis needs the genesis file: the bootstrap directory carries it.
  const genesisFile = join(dirname(run.bootstrapFile), 'genesis.json')
  const genesis = existsSync(genesisFile) ? await readJson(genesisFile, 'genesis file') : undefined
  const task = recoverOnce(
    {
      config: run.config,
      store: run.store,
      peers: { list: () => run.peers },
      clock: realClock,
      emit: (e) => tell(e, !values.json),
      options: { statusGraceMs: 2000 },
    },
    {
      target: height,
      strategies: strategiesNamed(names),
      recovery: {
        genesis,
        ...(values['full-check'] ? { snapshotCheck: 'full' as const } : {}),
      },
    },
  )
  const onSig = () => task.stop('interrupted')
  process.once('SIGINT', onSig)
  try {
    const { report } = await task.done
    const out = {
      root: report.target.root,
      height: report.target.height,
      strategy: report.strategy,
      attempts: rows(report.attempts),
    }
    if (values.json) process.stdout.write(`${JSON.stringify(out)}\n`)
    else {
      process.stdout.write(`recovered state root ${out.root} (block ${out.height}) by ${out.strategy}\n`)
      printAttempts(report.attempts)
    }
  } catch (e) {
    if (e instanceof StateRecoveryFailed) {
      if (values.json)
        process.stdout.write(
          `${JSON.stringify({ root: null, height: null, strategy: null, attempts: rows(e.attempts) })}\n`,
        )
      else printAttempts(e.attempts)
    }
    throw e
  } finally {
    process.off('SIGINT', onSig)
    await run.close()
  }
}

const rows = (attempts: AttemptReport[]) =>
  attempts.map((a) => ({
    strategy: a.strategy,
    outcome: a.outcome,
    reason: a.reason ? `${a.reason.code}: ${a.reason.message}` : null,
    ms: Math.round(a.ms),
    bytes: a.bytes,
    nodes: a.nodes,
    blocks: a.blocks,
  }))

function printAttempts(attempts: AttemptReport[]): void {
  for (const r of rows(attempts))
    process.stdout.write(
      `  ${r.strategy}: ${r.outcome} in ${r.ms} ms (${r.nodes} nodes, ${r.blocks} blocks, ${(r.bytes / 1e6).toFixed(2)} MB)${r.reason ? ` — ${r.reason}` : ''}\n`,
    )
}

/** Progress and the order of attempts, on stderr as they happen (stdout stays the result). */
function tell(e: LightEvent, verbose: boolean): void {
  const say = (s: string) => process.stderr.write(`${s}\n`)
  if (e.type === 'recovery-started')
    say(
      `recovering the state at block ${e.target.height} (${e.target.root}); trying ${e.strategies.join(', ')}`,
    )
  else if (e.type === 'recovery-attempt')
    say(
      `  ${e.attempt.strategy}: ${e.attempt.outcome}${e.attempt.reason ? ` (${e.attempt.reason.code}: ${e.attempt.reason.message})` : ''}`,
    )
  else if (e.type === 'peer-charged' && e.kind === 'banned') say(`  banned ${e.peer}: ${e.reason}`)
  else if (verbose && e.type === 'recovery-progress')
    say(`  ${e.strategy} ${e.phase}: ${e.nodes} nodes, ${e.blocks} blocks, ${(e.bytes / 1e6).toFixed(1)} MB`)
}
