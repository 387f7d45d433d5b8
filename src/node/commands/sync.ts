import { parseArgs } from 'node:util'
import cliProgress from 'cli-progress'
import { fromHex } from '../../core/bytes.ts'
import type { LightEvent } from '../../core/light/events.ts'
import { peerRows } from '../../core/light/summary.ts'
import { type SyncSummary, syncOnce } from '../../core/light/sync-once.ts'
import { realClock } from '../../platform/clock.ts'
import { openLightRun, TRUST_OPTIONS, TRUST_USAGE } from './light-run.ts'
import { UsageError } from './usage.ts'

export const SYNC_USAGE = `rootsync sync --data DIR [--peer MULTIADDR...] [--bootstrap FILE] [--root HEX --height N | --latest] [--json]
      ${TRUST_USAGE}`

const _shortId = (addr: string) => addr.split('/p2p/').pop() ?? addr

export async function sync(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      peer: { type: 'string', multiple: true },
      bootstrap: { type: 'string' },
      root: { type: 'string' },
      height: { type: 'string' },
      latest: { type: 'boolean' },
      json: { type: 'boolean' },
      'max-batch': { type: 'string' },
      'in-flight': { type: 'string' },
      ...TRUST_OPTIONS,
    },
  })
  if (!values.latest && values.height === undefined)
    throw new UsageError('give --latest, or --height N (optionally with --root HEX)')
  if (values.latest && (values.height !== undefined || values.root))
    throw new UsageError('--latest excludes --root and --height')
  const height = values.height === undefined ? undefined : Number(values.height)
  if (height !== undefined && (!Number.isSafeInteger(height) || height < 0))
    throw new UsageError(`--height must be a block number, got '${values.height}'`)
  const expectRoot = values.root ? fromHex(values.root, '--root') : undefined
  const run = await openLightRun(values)
  const { config, store, peers } = run
  let task: ReturnType<typeof syncOnce> | null = null
  const onSig = () => task?.stop('interrupted')
  process.once('SIGINT', onSig)
  const bar = !values.json && process.stderr.isTTY ? progressBar() : null
  try {
    task = syncOnce(
      {
        config,
        store,
        peers: { list: () => peers },
        clock: realClock,
        emit: (e) => {
          bar?.update(e)
          tell(e)
        },
        options: {
          // One run, to the peers' latest head: worth giving every peer's status a moment (a dial
          // each) so the highest head is found; a silent peer still costs at most this.
          statusGraceMs: 2000,
          sync: {
            ...(values['max-batch']
              ? {
                  maxBatch: Number(values['max-batch']),
                  initialBatch: Math.min(128, Number(values['max-batch'])),
                }
              : {}),
            ...(values['in-flight'] ? { maxInFlightPerPeer: Number(values['in-flight']) } : {}),
          },
        },
      },
      { target: values.latest ? 'latest' : height!, expectRoot },
    )
    const summary = await task.done.finally(() => bar?.stop())
    if (values.json) process.stdout.write(`${JSON.stringify(jsonSummary(summary))}\n`)
    else printSummary(summary)
  } finally {
    process.off('SIGINT', onSig)
    await run.close()
  }
}

/** What a person must know as it happens (on stderr, also with --json: stdout stays one JSON line). */
function tell(e: LightEvent): void {
  const say = (s: string) => process.stderr.write(`${s}\n`)
  if (e.type === 'stored-head-ignored')
    say(`ignoring the stored head (${e.code}: ${e.reason}); verifying from the checkpoint`)
  else if (e.type === 'peer-charged' && e.kind === 'banned') say(`banned ${e.peer}: ${e.reason}`)
  else if (e.type === 'target-moved')
    say(`target ${e.from} is no longer served (${e.reason.slice(0, 120)}…); moving to the new head`)
}

function progressBar() {
  const bar = new cliProgress.SingleBar(
    {
      format:
        ' {phase} |{bar}| {percentage}% · {nodes} nodes · {rate} nodes/s · {mb} MB · ETA {eta_formatted} · {peers} peers',
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(100, 0, { phase: 'probing', nodes: 0, rate: 0, mb: '0.0', peers: 0 })
  return {
    update(e: LightEvent) {
      if (e.type === 'stall') process.stderr.write(`\nstalled: ${e.reason}\n`)
      if (e.type === 'peer-banned') process.stderr.write(`\nbanned ${e.peer}: ${e.reason}\n`)
      if (e.type !== 'progress' && e.type !== 'done') return
      const p = e.progress
      bar.update(Math.floor(p.percent), {
        phase: p.phase,
        nodes: p.nodesProcessed,
        rate: Math.round(p.nodesPerSecond),
        mb: (p.bytesDownloaded / 1e6).toFixed(1),
        peers: p.peers.filter((x) => !x.banned).length,
      })
    },
    stop: () => bar.stop(),
  }
}

/** The `--json` line: the run's totals, what verifying the header cost, and every peer it saw. */
function jsonSummary(s: SyncSummary) {
  return {
    root: s.root,
    height: s.height,
    headerHash: s.headerHash,
    nodes: s.nodes,
    skipped: s.skipped,
    bytes: s.bytes,
    seconds: Number((s.ms / 1000).toFixed(3)),
    nodesPerSecond: Math.round(s.nodes / Math.max(s.syncMs / 1000, 0.001)),
    trust: { ...s.trust, ms: Math.round(s.trust.ms) },
    peers: peerRows(s.peers),
  }
}

function printSummary(summary: SyncSummary): void {
  const s = jsonSummary(summary)
  const out = process.stdout
  out.write(`synced state root ${s.root} (block ${s.height}, header ${s.headerHash})\n`)
  out.write(
    `  ${s.nodes} nodes downloaded and verified, ${s.skipped} subtrees already stored, ${(s.bytes / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(1)} s (${s.nodesPerSecond} nodes/s)\n`,
  )
  out.write(
    `  header verified by skipping: ${s.trust.fetched} light blocks fetched, ${s.trust.signatures} signatures checked, ${s.trust.bisections} bisections, ${s.trust.ms} ms\n`,
  )
  for (const p of s.peers) {
    const issues = [
      p.bad && `${p.bad} bad`,
      p.missing && `${p.missing} not had`,
      p.timeouts && `${p.timeouts} timeouts`,
      p.errors && `${p.errors} errors`,
      p.banned
        ? `banned: ${p.banned}`
        : (p.outcome === 'refused' || p.outcome === 'dropped') && `${p.outcome}: ${p.reason}`,
    ].filter(Boolean)
    out.write(
      `  ${p.peer}: ${p.delivered} nodes (${p.share}%)${issues.length ? ` — ${issues.join(', ')}` : ''}\n`,
    )
  }
}
