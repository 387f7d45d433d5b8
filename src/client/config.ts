/**
 * Where the client's trust and peers come from, in order: URL parameters, then settings saved from
 * the settings form, then the devnet's bootstrap.json. Each field is validated with an error that
 * says which field and what is expected, because a wrong checkpoint or validator set means the
 * client can verify nothing.
 *
 * URL parameters (all optional; any given one overrides the others' value):
 *   chainId=1337
 *   checkpoint=<number>:<0x header hash>     e.g. 0:0xabc…  (the genesis header, or a later one)
 *   validators=0x…,0x…                       the validator set that signs from the checkpoint
 *   peers=<multiaddr>,<multiaddr>            each ending in /p2p/<peer id>
 *   trustingPeriod=SECONDS                   how old a trusted header may be (default 14 days)
 *   address=0x…                              an account to look up as soon as possible
 *
 * and the app's behaviour (`appOptionsFromUrl`):
 *   recovery=local,peer,replay,snapshot      the recovery strategies, in order
 *   samplePaths=N                            the start-up check's random paths (0: none)
 *   consistencyMs=N                          consistency checks every N ms (0: only "Check now")
 *   consistencyPeers=N, consistencyAccounts=N   peers asked and accounts sampled per check
 *   consistencySeed=TEXT                     repeatable sampling (tests only)
 *   autoRepair=0                             report local damage a check finds, do not repair it
 *   watch=0x…,0x…                            addresses every consistency check includes
 */
import type { BootstrapInfo, ConsistencyOptions, PeerInfo, RecoveryConfig } from '../api/worker-protocol.ts'
import { BootstrapError as ConfigError, parseBootstrap, usesTransport } from '../core/light/config.ts'
import { parseStrategies } from '../core/recovery/types.ts'
import type { RootsyncClientOptions } from './rootsync-client.ts'

/**
 * A field that is missing or malformed, named (`checkpoint`, `peers`, `validators[2]`…): the core
 * configuration parser's error, so the page, the worker and the CLI refuse the same things alike.
 */
export { BootstrapError as ConfigError } from '../core/light/config.ts'

/** The fields a person can set (URL or form); strings as typed. */
export interface ConfigFields {
  chainId?: string
  checkpoint?: string
  validators?: string
  peers?: string
  trustingPeriod?: string
}

export const SETTINGS_KEY = 'rootsync.settings'
/** The configuration the app last started with (a return visit starts with it at once). */
export const LAST_CONFIG_KEY = 'rootsync.lastConfig'

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

const list = (s: string) =>
  s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean)

/** Multiaddrs, grouped by peer: one peer may be reachable over WebSockets and WebRTC. */
export function parsePeers(s: string): PeerInfo[] {
  const byId = new Map<string, PeerInfo>()
  for (const addr of list(s)) {
    const m = /\/p2p\/([1-9A-HJ-NP-Za-km-z]{46,60})$/.exec(addr)
    if (!addr.startsWith('/') || !m)
      throw new ConfigError('peers', `"${addr}" is not a multiaddr ending in /p2p/<peer id>`)
    if (!usesTransport(addr, 'websocket') && !usesTransport(addr, 'webrtc-direct'))
      throw new ConfigError(
        'peers',
        `"${addr}" uses no transport a browser can dial (ws, wss or webrtc-direct)`,
      )
    const peerId = m[1]!
    const p = byId.get(peerId) ?? { name: `peer-${byId.size + 1}`, peerId, addrs: [] }
    p.addrs.push(addr)
    byId.set(peerId, p)
  }
  return [...byId.values()]
}

/** Applies `f` over `base` (which may be null when there is no bootstrap.json). */
export function resolveConfig(base: BootstrapInfo | null, f: ConfigFields): BootstrapInfo {
  // A JSON copy: `base` may be a reactive proxy, which structuredClone refuses.
  const c: Partial<BootstrapInfo> = base ? JSON.parse(JSON.stringify(base)) : {}
  if (f.chainId?.trim()) {
    const n = Number(f.chainId.trim())
    if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError('chainId', 'expected a positive integer')
    c.chainId = n
  }
  if (f.checkpoint?.trim()) {
    const m = /^(\d+):(0x[0-9a-fA-F]{64})$/.exec(f.checkpoint.trim())
    if (!m) throw new ConfigError('checkpoint', 'expected <block number>:<0x + 64 hex digits header hash>')
    c.checkpoint = { number: Number(m[1]), hash: m[2]!.toLowerCase() }
    if (c.checkpoint.number === 0) c.genesisHash = c.checkpoint.hash
  }
  if (f.validators?.trim()) {
    const v = list(f.validators)
    for (const a of v) if (!ADDRESS.test(a)) throw new ConfigError('validators', `"${a}" is not a 0x address`)
    c.validators = v.map((a) => a.toLowerCase())
  }
  if (f.peers?.trim()) c.peers = parsePeers(f.peers)
  if (f.trustingPeriod?.trim()) {
    // Checked (an integer of at least 60 seconds) by the one parser below.
    c.trustingPeriodSec = Number(f.trustingPeriod.trim())
  }
  if (c.chainId === undefined)
    throw new ConfigError('chainId', 'not set (no bootstrap.json, URL or settings)')
  if (!c.checkpoint) throw new ConfigError('checkpoint', 'not set')
  if (!c.validators?.length) throw new ConfigError('validators', 'not set')
  if (!c.peers?.length) throw new ConfigError('peers', 'no peers to sync from')
  // The whole configuration (a bootstrap.json's fields too) through the one parser.
  return parseBootstrap(c)
}

export function fieldsFromUrl(search: string): ConfigFields {
  const q = new URLSearchParams(search)
  const f: ConfigFields = {}
  for (const k of ['chainId', 'checkpoint', 'validators', 'peers', 'trustingPeriod'] as const) {
    const v = q.get(k)
    if (v !== null) f[k] = v
  }
  return f
}

/** The form's fields for a resolved config (to prefill it). */
export function fieldsOf(c: BootstrapInfo): Required<ConfigFields> {
  return {
    chainId: String(c.chainId),
    checkpoint: `${c.checkpoint.number}:${c.checkpoint.hash}`,
    validators: c.validators.join('\n'),
    peers: c.peers.flatMap((p) => p.addrs).join('\n'),
    trustingPeriod: c.trustingPeriodSec === undefined ? '' : String(c.trustingPeriodSec),
  }
}

/** The client options a URL sets (recovery, consistency checks), and what it set wrong. */
export interface UrlOptions {
  options: Pick<RootsyncClientOptions, 'recovery' | 'consistency' | 'watch' | 'consistencySeed'>
  /** One message per parameter ignored (malformed): its default is used instead. */
  errors: string[]
}

/** The app's behaviour from URL parameters (see the top of this file); absent ones keep the defaults. */
export function appOptionsFromUrl(search: string): UrlOptions {
  const q = new URLSearchParams(search)
  const errors: string[] = []
  const options: UrlOptions['options'] = {}
  const whole = (name: string): number | undefined => {
    const v = q.get(name)
    if (v === null) return undefined
    if (/^\d+$/.test(v)) return Number(v)
    errors.push(`${name} must be a whole number (URL parameter); using the default`)
    return undefined
  }

  const recovery: RecoveryConfig = {}
  const names = q.get('recovery')
  if (names !== null)
    try {
      recovery.strategies = parseStrategies(names)
    } catch (e) {
      errors.push(`${(e as Error).message} (URL parameter recovery); using the default strategies`)
    }
  const paths = whole('samplePaths')
  if (paths !== undefined) recovery.options = { samplePaths: paths }
  if (names !== null || paths !== undefined) options.recovery = recovery

  const consistency: Partial<ConsistencyOptions> = {}
  const set = (key: 'intervalMs' | 'peers' | 'accounts', v: number | undefined) => {
    if (v !== undefined) consistency[key] = v
  }
  set('intervalMs', whole('consistencyMs'))
  set('peers', whole('consistencyPeers'))
  set('accounts', whole('consistencyAccounts'))
  const auto = q.get('autoRepair')
  if (auto === '0' || auto === '1') consistency.autoRepair = auto === '1'
  else if (auto !== null) errors.push('autoRepair must be 0 or 1 (URL parameter); using the default (on)')
  if (Object.keys(consistency).length) options.consistency = consistency
  const seed = q.get('consistencySeed')
  if (seed) options.consistencySeed = seed
  const watch = q.get('watch')
  if (watch !== null) {
    const addrs = list(watch)
    const bad = addrs.filter((a) => !ADDRESS.test(a))
    if (bad.length) errors.push(`watch: "${bad[0]}" is not a 0x address (URL parameter); watching none`)
    else options.watch = addrs.map((a) => a.toLowerCase())
  }
  return { options, errors }
}
