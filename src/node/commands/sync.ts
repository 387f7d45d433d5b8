/**
 * `rootsync sync`: verify the header chain from the checkpoint, then sync the state under a
 * verified header into a LevelDB store, with a progress bar on a terminal and a summary at the end.
 * `rootsync verify`: re-check every node of the synced state.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import cliProgress from 'cli-progress'
import { equals, fromHex, fromHexExact, toHex } from '../../core/bytes.ts'
import {
  decodeSignedHeader,
  encodeSignedHeader,
  headerHash,
  type TrustedHeader,
} from '../../core/chain/header.ts'
import { type Checkpoint, trustCheckpoint, verifyHeadersTo } from '../../core/chain/light.ts'
import { RootsyncError } from '../../core/errors.ts'
import type { StatusResponse } from '../../core/protocol/messages.ts'
import { FailedToFetchStateNodes } from '../../core/sync/errors.ts'
import { readSyncedRoot, type SyncResult, syncToState } from '../../core/sync/state-sync.ts'
import type { SyncEvent } from '../../core/sync/types.ts'
import { verifyStoredState } from '../../core/sync/verify.ts'
import { PeerClient } from '../../net/client.ts'
import { syncPeerOf } from '../../net/sync-peer.ts'
import { realClock } from '../../platform/clock.ts'
import { LevelNodeStore } from '../../store/level-store.ts'
import { createClientLibp2p } from '../libp2p.ts'
import { readJson, UsageError } from './usage.ts'

export const SYNC_USAGE = `rootsync sync --data DIR [--peer MULTIADDR...] [--bootstrap FILE] [--root HEX --height N | --latest] [--json]
  rootsync verify --data DIR [--json]`

const TRUSTED_HEADER = 'light/header'
const CHECKPOINT = 'light/checkpoint'

interface BootstrapFile {
  chainId: number
  checkpoint: { number: number; hash: string }
  validators: string[]
  peers?: { addrs: string[] }[]
}

function loadCheckpoint(b: BootstrapFile): Checkpoint {
  if (!Number.isSafeInteger(b?.chainId) || !b.checkpoint || !Array.isArray(b.validators))
    throw new RootsyncError(
      'BAD_BOOTSTRAP',
      'bootstrap file must hold chainId, checkpoint { number, hash } and validators',
    )
  return {
    chainId: b.chainId,
    number: b.checkpoint.number,
    hash: fromHexExact(b.checkpoint.hash, 32, 'checkpoint hash'),
    validators: b.validators.map((v) => fromHexExact(v, 20, 'validator')),
  }
}

const shortId = (addr: string) => addr.split('/p2p/').pop() ?? addr

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
    },
  })
  if (!values.data) throw new UsageError('--data DIR is required')
  if (!values.latest && values.height === undefined)
    throw new UsageError('give --latest, or --height N (optionally with --root HEX)')
  if (values.latest && (values.height !== undefined || values.root))
    throw new UsageError('--latest excludes --root and --height')
  const height = values.height === undefined ? undefined : Number(values.height)
  if (height !== undefined && (!Number.isSafeInteger(height) || height < 0))
    throw new UsageError(`--height must be a block number, got '${values.height}'`)
  const bootstrapFile = values.bootstrap ?? resolve('.devnet/bootstrap.json')
  if (!existsSync(bootstrapFile))
    throw new UsageError(
      `no bootstrap file at ${bootstrapFile}: pass --bootstrap FILE (written by rootsync devnet)`,
    )
  const boot = (await readJson(bootstrapFile, 'bootstrap file')) as BootstrapFile
  const cp = loadCheckpoint(boot)
  const addrs = values.peer?.length
    ? values.peer
    : (boot.peers ?? []).map((p) => p.addrs.find((a) => a.includes('/ws/')) ?? p.addrs[0]!)
  if (!addrs.length) throw new UsageError('no peers: pass --peer MULTIADDR')

  const store = await LevelNodeStore.open(`${values.data}/db`)
  const node = await createClientLibp2p()
  const clients = addrs.map((a) => new PeerClient(node, multiaddr(a), { timeoutMs: 10_000 }))
  const ac = new AbortController()
  const onSig = () => ac.abort()
  process.once('SIGINT', onSig)
  try {
    const summary = await runSync(store, node, clients, cp, { ...values, height }, ac.signal)
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
    else printSummary(summary)
  } finally {
    process.off('SIGINT', onSig)
    for (const c of clients) c.close()
    await node.stop()
    await store.close()
  }
}

interface Summary {
  root: string
  height: number
  headerHash: string
  nodes: number
  skipped: number
  bytes: number
  seconds: number
  nodesPerSecond: number
  peers: {
    peer: string
    delivered: number
    share: number
    bad: number
    missing: number
    timeouts: number
    errors: number
    banned: string | null
  }[]
}

async function runSync(
  store: LevelNodeStore,
  _node: Libp2p,
  clients: PeerClient[],
  cp: Checkpoint,
  o: {
    latest?: boolean
    height?: number
    root?: string
    json?: boolean
    'max-batch'?: string
    'in-flight'?: string
  },
  signal: AbortSignal,
): Promise<Summary> {
  const stored = await store.getMeta(CHECKPOINT)
  if (stored && !equals(stored, cp.hash))
    throw new RootsyncError(
      'CHAIN_MISMATCH',
      `the data directory was synced from checkpoint ${toHex(stored)}, not ${toHex(cp.hash)}`,
    )

  const started = performance.now()
  for (let attempt = 0; ; attempt++) {
    const statuses = await Promise.all(
      clients.map((c) =>
        c.status(signal).then(
          (s) => ({ c, s }),
          (e: Error) => ({ c, s: null as StatusResponse | null, e }),
        ),
      ),
    )
    const live = statuses.filter((x) => x.s && x.s.chainId === cp.chainId) as {
      c: PeerClient
      s: StatusResponse
    }[]
    if (!live.length) {
      const why = statuses
        .map((x) => `${shortId(x.c.id)}: ${x.s ? `chain ${x.s.chainId}` : (x as { e?: Error }).e?.message}`)
        .join('; ')
      throw new RootsyncError('NO_PEERS', `no peer on chain ${cp.chainId} answered: ${why}`)
    }
    const best = live.reduce((a, b) => (b.s.headNumber > a.s.headNumber ? b : a))
    const target = o.latest ? best.s.headNumber : o.height!
    if (target > best.s.headNumber)
      throw new RootsyncError(
        'HEIGHT_AHEAD',
        `height ${target} is beyond the peers' head ${best.s.headNumber}`,
      )

    // Extend trust from the checkpoint (or the header verified last time) to the target height.
    let trusted: TrustedHeader
    const saved = await store.getMeta(TRUSTED_HEADER)
    const savedHeader = saved ? decodeSignedHeader(saved).header : null
    if (savedHeader && savedHeader.number <= target)
      trusted = { header: savedHeader, hash: headerHash(savedHeader) }
    else trusted = await trustCheckpoint(cp, best.c, signal)
    const header = await verifyHeadersTo(cp, trusted, target, best.c, signal)
    await store.write({
      meta: [
        [TRUSTED_HEADER, encodeSignedHeader({ header: header.header, signatures: [] })],
        [CHECKPOINT, cp.hash],
      ],
    })
    const root = header.header.stateRoot
    if (o.root && !equals(fromHex(o.root, '--root'), root))
      throw new RootsyncError(
        'ROOT_NOT_VERIFIED',
        `--root ${o.root} is not the state root of the verified header at height ${target} (${toHex(root)})`,
      )

    const peers = live
      .filter((x) => x.s.oldestStateNumber <= target && target <= x.s.headNumber)
      .map((x) => syncPeerOf(x.c, shortId(x.c.id)))
    const bar = !o.json && process.stderr.isTTY ? progressBar() : null
    try {
      const result = await syncToState(root, target, {
        clock: realClock,
        store,
        peers,
        signal,
        config: {
          ...(o['max-batch']
            ? { maxBatch: Number(o['max-batch']), initialBatch: Math.min(128, Number(o['max-batch'])) }
            : {}),
          ...(o['in-flight'] ? { maxInFlightPerPeer: Number(o['in-flight']) } : {}),
        },
        onEvent: (e) => bar?.update(e),
      })
      bar?.stop()
      return summarize(result, toHex(header.hash), (performance.now() - started) / 1000)
    } catch (e) {
      bar?.stop()
      // The chain moved on and peers pruned our target: move to the new head (already-stored
      // subtrees are skipped, so this costs only what changed).
      if (e instanceof FailedToFetchStateNodes && o.latest && attempt < 3) {
        process.stderr.write(
          `target ${target} is no longer served (${e.message.slice(0, 120)}…); moving to the new head\n`,
        )
        continue
      }
      throw e
    }
  }
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
    update(e: SyncEvent) {
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

function summarize(r: SyncResult, headerHashHex: string, seconds: number): Summary {
  const total = r.peers.reduce((a, p) => a + p.delivered, 0) || 1
  return {
    root: r.root,
    height: r.height,
    headerHash: headerHashHex,
    nodes: r.nodes,
    skipped: r.skipped,
    bytes: r.bytes,
    seconds: Number(seconds.toFixed(3)),
    nodesPerSecond: Math.round(r.nodes / Math.max(r.ms / 1000, 0.001)),
    peers: r.peers.map((p) => ({
      peer: p.id,
      delivered: p.delivered,
      share: Number(((100 * p.delivered) / total).toFixed(1)),
      bad: p.bad,
      missing: p.missing,
      timeouts: p.timeouts,
      errors: p.errors,
      banned: p.banned,
    })),
  }
}

function printSummary(s: Summary): void {
  const out = process.stdout
  out.write(`synced state root ${s.root} (block ${s.height}, header ${s.headerHash})\n`)
  out.write(
    `  ${s.nodes} nodes downloaded and verified, ${s.skipped} subtrees already stored, ${(s.bytes / 1e6).toFixed(1)} MB in ${s.seconds.toFixed(1)} s (${s.nodesPerSecond} nodes/s)\n`,
  )
  for (const p of s.peers) {
    const issues = [
      p.bad && `${p.bad} bad`,
      p.missing && `${p.missing} not had`,
      p.timeouts && `${p.timeouts} timeouts`,
      p.errors && `${p.errors} errors`,
      p.banned && `banned: ${p.banned}`,
    ].filter(Boolean)
    out.write(
      `  ${p.peer}: ${p.delivered} nodes (${p.share}%)${issues.length ? ` — ${issues.join(', ')}` : ''}\n`,
    )
  }
}

export async function verify(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { data: { type: 'string' }, json: { type: 'boolean' } } })
  if (!values.data) throw new UsageError('--data DIR is required')
  const store = await LevelNodeStore.open(`${values.data}/db`)
  try {
    const synced = await readSyncedRoot(store)
    if (!synced)
      throw new RootsyncError(
        'NO_SYNCED_STATE',
        `${values.data} holds no completed state (never synced, or the sync was interrupted)`,
      )
    const started = performance.now()
    const r = await verifyStoredState(store, synced.root)
    const seconds = (performance.now() - started) / 1000
    const summary = {
      ok: true,
      root: toHex(synced.root),
      height: synced.height,
      ...r,
      seconds: Number(seconds.toFixed(3)),
    }
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
    else
      process.stdout.write(
        `ok: state root ${summary.root} (block ${synced.height}) verified: ${r.nodes} trie nodes, ${r.code} code blobs, ${r.accounts} accounts, ${(r.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s\n`,
      )
  } finally {
    await store.close()
  }
}
