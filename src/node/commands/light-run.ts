/**
 * What `rootsync sync`, `check` and `recover` set up: the bootstrap file (trust root and peers), the
 * trust overrides given on the command line, the LevelDB store under --data, a libp2p client node,
 * and a wire client per peer address.
 *
 * Security considerations: `--checkpoint N:0xHASH --validators …` replaces the bootstrap's trust
 * root: the user vouches for that block (from a source they trust) and for the set that signs it, as
 * when the bootstrap was written. Both must be given together, and the result passes the same
 * strict parser as bootstrap.json (`parseBootstrap`). A data directory synced from another
 * checkpoint is still refused (CHAIN_MISMATCH), so a new trust root needs a new --data directory.
 * `--trusting-period` only changes how old a trusted header may be (at least a minute).
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { type BootstrapConfig, parseBootstrap, pickAddr } from '../../core/light/config.ts'
import type { LightPeer } from '../../core/light/peers.ts'
import { PeerClient } from '../../net/client.ts'
import { LevelNodeStore } from '../../store/level-store.ts'
import { createClientLibp2p } from '../libp2p.ts'
import { intOption, readBootstrap, UsageError } from './usage.ts'

/** The trust options `sync`, `check` and `recover` accept (spread into their `parseArgs` options). */
export const TRUST_OPTIONS = {
  checkpoint: { type: 'string' },
  validators: { type: 'string' },
  'trusting-period': { type: 'string' },
} as const

export const TRUST_USAGE = `[--checkpoint N:0xHASH --validators 0xADDR,0xADDR,...] [--trusting-period SECONDS]`

/** The shortest trusting period accepted (seconds). */
export const MIN_TRUSTING_PERIOD_SEC = 60

export interface TrustFlags {
  checkpoint?: string
  validators?: string
  'trusting-period'?: string
}

/**
 * `config` with the command line's trust overrides: a fresh checkpoint and its validators (together),
 * and the trusting period. Throws UsageError naming the option that is wrong.
 */
export function withTrustOverrides(config: BootstrapConfig, v: TrustFlags): BootstrapConfig {
  const tp = v['trusting-period']
  const trustingPeriodSec =
    tp === undefined ? undefined : intOption(tp, 'trusting-period', 0, MIN_TRUSTING_PERIOD_SEC)
  if ((v.checkpoint === undefined) !== (v.validators === undefined))
    throw new UsageError(
      '--checkpoint N:0xHASH and --validators 0xADDR,… go together: the validator set that signs the checkpoint block',
    )
  let out: BootstrapConfig = config
  if (v.checkpoint !== undefined && v.validators !== undefined) {
    const m = /^(\d+):(0x[0-9a-fA-F]{64})$/.exec(v.checkpoint)
    if (!m)
      throw new UsageError(
        `--checkpoint must be a block number and its hash, N:0x followed by 64 hex digits; got '${v.checkpoint}'`,
      )
    const checkpoint = { number: Number(m[1]), hash: m[2]! }
    const validators = v.validators.split(',').map((a) => a.trim())
    try {
      // The bootstrap's genesis hash stays: a block-0 checkpoint of another chain is refused.
      out = parseBootstrap({ ...config, checkpoint, validators })
    } catch (e) {
      throw new UsageError(`--checkpoint/--validators: ${(e as Error).message}`)
    }
  }
  return trustingPeriodSec === undefined ? out : { ...out, trustingPeriodSec }
}

export interface LightRun {
  config: BootstrapConfig
  /** The bootstrap file's path (its directory may carry genesis.json). */
  bootstrapFile: string
  store: LevelNodeStore
  peers: LightPeer[]
  close(): Promise<void>
}

const shortId = (addr: string) => addr.split('/p2p/').pop() ?? addr

export async function openLightRun(
  v: {
    data?: string
    bootstrap?: string
    peer?: string[]
  } & TrustFlags,
): Promise<LightRun> {
  if (!v.data) throw new UsageError('--data DIR is required')
  const bootstrapFile = v.bootstrap ?? resolve('.devnet/bootstrap.json')
  if (!existsSync(bootstrapFile))
    throw new UsageError(
      `no bootstrap file at ${bootstrapFile}: pass --bootstrap FILE (written by rootsync devnet)`,
    )
  const config = withTrustOverrides(await readBootstrap(bootstrapFile), v)
  const addrs = v.peer?.length
    ? v.peer
    : config.peers.map((p) => pickAddr(p, 'websocket')).filter((a): a is string => a !== null)
  if (!addrs.length) throw new UsageError('no peers: pass --peer MULTIADDR')
  const store = await LevelNodeStore.open(`${v.data}/db`)
  const node = await createClientLibp2p()
  // The driver bounds every request by its own deadline (through the clock); the transport's is a
  // backstop above it.
  const clients = addrs.map((a) => new PeerClient(node, multiaddr(a), { timeoutMs: 15_000 }))
  return {
    config,
    bootstrapFile,
    store,
    peers: clients.map((c) => ({ id: shortId(c.id), wire: c })),
    async close() {
      for (const c of clients) c.close()
      await node.stop()
      await store.close()
    },
  }
}
