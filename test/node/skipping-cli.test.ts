/**
 * `rootsync sync` and `check` with skipping verification, as real processes. Trust options: a
 * trusting period below a minute and a malformed or half-given checkpoint override are usage errors
 * naming the option (exit 2). Over one devnet that rotates a validator every 3 blocks (genesis dated
 * an hour ago): a sync from genesis across ≥ 10 set changes fetches few light blocks; a fresh
 * checkpoint at a rotated height with its set is the run's trust root (the genesis set there is
 * refused); `--trusting-period 60` ends in TRUST_EXPIRED with its message; a sync to a head ≥ 600
 * completes; a peer lying about validator sets, listed first, is banned and the sync completes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { devnetSetAt } from '../../src/core/chain/devnet.ts'
import { parseBootstrap } from '../../src/core/light/config.ts'
import { META } from '../../src/core/meta-keys.ts'
import { genesisBootstrap } from '../../src/node/commands/devnet.ts'
import { withTrustOverrides } from '../../src/node/commands/light-run.ts'
import { UsageError } from '../../src/node/commands/usage.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { runCli } from '../helpers/cli.ts'
import {
  CORRUPT_SERVE,
  type DevnetFiles,
  genesisHashOf,
  makeDevnetFiles,
  type NodeProc,
  startDevnetNodes,
  startNode,
  stopAllNodes,
  stopNode,
  writeNodesBootstrap,
} from '../helpers/nodes.ts'

const tmp = (what: string) => mkdtempSync(join(tmpdir(), `rootsync-${what}-`))

describe('trust options: usage errors', () => {
  const files = makeDevnetFiles({ accounts: 20, contracts: 1, slots: 1 })
  const validators = files.genesis.validators.map(toHex)
  const config = parseBootstrap(genesisBootstrap(files.genesis.chainId, genesisHashOf(files), validators, []))
  const hash = `0x${'ab'.repeat(32)}`

  it.each([
    [{ 'trusting-period': '59' }, /--trusting-period must be an integer ≥ 60, got '59'/],
    [{ 'trusting-period': '1.5h' }, /--trusting-period must be an integer ≥ 60/],
    [{ checkpoint: `5:${hash}` }, /--checkpoint N:0xHASH and --validators/],
    [{ validators: validators.join(',') }, /--checkpoint N:0xHASH and --validators/],
    [
      { checkpoint: '5:0xabc', validators: validators.join(',') },
      /--checkpoint must be a block number and its hash/,
    ],
    [
      { checkpoint: `5:${hash}`, validators: `${validators[0]},0x1234` },
      /--checkpoint\/--validators: validators\[1\]: expected a 0x address/,
    ],
    [{ checkpoint: `0:${hash}`, validators: validators.join(',') }, /--checkpoint\/--validators: .*genesis/],
  ])('%j → UsageError naming the option', (flags, message) => {
    expect(() => withTrustOverrides(config, flags)).toThrow(UsageError)
    expect(() => withTrustOverrides(config, flags)).toThrow(message)
  })

  it('valid overrides replace the checkpoint and its validators, and set the trusting period', () => {
    const got = withTrustOverrides(config, {
      checkpoint: `5:${hash.toUpperCase().replace('0X', '0x')}`,
      validators: validators.slice(0, 2).join(', '),
      'trusting-period': '60',
    })
    expect(got).toEqual({
      ...config,
      checkpoint: { number: 5, hash },
      validators: validators.slice(0, 2),
      trustingPeriodSec: 60,
      peers: [],
    })
    expect(withTrustOverrides(config, {})).toEqual(config)
  })

  it('sync and check exit 2 on them, with the usage text', async () => {
    const bootstrap = join(files.dir, 'bootstrap.json')
    writeFileSync(bootstrap, JSON.stringify(config))
    const base = (cmd: string) => [cmd, '--data', tmp('usage'), '--bootstrap', bootstrap]
    const [sync, check] = await Promise.all([
      runCli([...base('sync'), '--latest', '--trusting-period', '59']),
      runCli([...base('check'), '--checkpoint', `5:${hash}`]),
    ])
    expect(sync.code).toBe(2)
    expect(sync.stderr).toMatch(/rootsync sync: --trusting-period must be an integer ≥ 60, got '59'/)
    expect(sync.stderr).toContain('[--trusting-period SECONDS]')
    expect(check.code).toBe(2)
    expect(check.stderr).toMatch(/rootsync check: --checkpoint N:0xHASH and --validators/)
  }, 60_000)
})

describe('skipping verification over a rotating devnet (real processes)', () => {
  /** One validator replaced every EVERY blocks (block k·EVERY carries the k-th change). */
  const EVERY = 3
  let files: DevnetFiles
  let producer: NodeProc
  let follower: NodeProc
  let liar: NodeProc
  let bootstrap: string
  const sync = (bootstrapFile: string, extra: string[] = []) =>
    runCli(['sync', '--data', tmp('skip'), '--bootstrap', bootstrapFile, '--latest', '--json', ...extra], {
      timeoutMs: 120_000,
    })

  beforeAll(async () => {
    // Genesis dated an hour ago: inside the default trusting period, outside a 60-second one.
    files = makeDevnetFiles({
      accounts: 200,
      contracts: 2,
      slots: 2,
      seed: 'skipping-cli',
      rotateEvery: EVERY,
      timestamp: Math.floor(Date.now() / 1000) - 3600,
    })
    ;[producer] = (await startDevnetNodes(files, { followers: 0, blockTime: 50, txs: 2 })) as [NodeProc]
    // The honest follower follows the liar (which serves blocks honestly): its head is never above
    // the liar's, so the liar, listed first, is the peer asked first (see the liar test).
    const common = ['--genesis', files.genesisFile, '--retain', '5000']
    liar = await startNode(
      'liar',
      join(files.dir, 'liar'),
      [...common, '--follow', producer.ws, '--mode', 'lie-validators'],
      { script: CORRUPT_SERVE },
    )
    follower = await startNode('follower', join(files.dir, 'follower'), [...common, '--follow', liar.ws])
    bootstrap = writeNodesBootstrap(join(files.dir, 'honest'), files, [producer, follower])
  }, 120_000)

  afterAll(() => stopAllNodes())

  it('from genesis across ≥ 10 validator-set changes, sync reaches the head by skipping: few light blocks fetched', async () => {
    await producer.waitHead(11 * EVERY + 1, 60_000)
    const r = await sync(bootstrap)
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout)
    const changes = Math.floor((s.height - 1) / EVERY)
    expect(changes).toBeGreaterThanOrEqual(10)
    expect(s.trust.fetched).toBeGreaterThan(0)
    expect(s.trust.fetched).toBeLessThanOrEqual(2 * changes + 4)
    expect(s.trust.fetched).toBeLessThan(s.height)
    expect(s.trust.signatures).toBeGreaterThan(0)
    // The head synced is the one the devnet signed at that height.
    await producer.waitHead(s.height)
    expect(producer.heads.find((h) => h.number === s.height)!.hash).toBe(s.headerHash)
  }, 120_000)

  it('--checkpoint N:0xHASH with the set that signs block N: the run trusts that block instead of the bootstrap one; a wrong set is refused', async () => {
    const n = 2 * EVERY + 1
    const at = producer.heads.find((h) => h.number === n)!
    const set = devnetSetAt(
      { seed: files.seed, validators: files.genesis.validators.length, every: EVERY },
      n,
    )
    expect(set.map(toHex)).not.toEqual(files.genesis.validators.map(toHex))
    const dir = tmp('checkpoint')
    const cp = ['--checkpoint', `${n}:${at.hash}`]
    const args = ['sync', '--data', dir, '--bootstrap', bootstrap, '--latest', '--json', ...cp]
    const r = await runCli([...args, '--validators', set.map(toHex).join(',')])
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).height).toBeGreaterThan(n)
    const store = await LevelNodeStore.open(join(dir, 'db'))
    const kept = await store.getMeta(META.lightCheckpoint)
    await store.close()
    expect(toHex(kept!)).toBe(at.hash)

    // The genesis set, which no longer signs block n: no header is trusted.
    const wrong = await runCli([
      ...args.map((a) => (a === dir ? tmp('checkpoint-wrong') : a)),
      '--validators',
      files.genesis.validators.map(toHex).join(','),
    ])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/validator/)
  }, 120_000)

  it('--trusting-period 60 with a checkpoint an hour old: exit 1 with the TRUST_EXPIRED message, not retried', async () => {
    const r = await sync(bootstrap, ['--trusting-period', '60'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(
      /rootsync sync: the checkpoint \(block 0, 0x[0-9a-f]{8}…, from \d{4}-\d\d-\d\d\) is .* old/,
    )
    expect(r.stderr).toContain('--checkpoint N:0xHASH --validators')
    expect(r.stdout).toBe('')
  }, 120_000)

  it('a sync to a head ≥ 600 from genesis completes (it once lost its connection verifying 512-header chunks)', async () => {
    await follower.waitHead(600, 120_000)
    const r = await sync(writeNodesBootstrap(join(files.dir, 'follower-only'), files, [follower]))
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.height).toBeGreaterThanOrEqual(600)
    expect(s.trust.fetched).toBeLessThan(s.height)
  }, 240_000)

  it('a peer lying about validator sets, listed first, is banned and named in the summary; the sync completes from the honest one', async () => {
    // The producer stopped, the liar keeps its last head and the follower (following the liar)
    // reaches it: the liar's head is the highest or equal, so it is asked first.
    await stopNode(producer)
    const last = liar.heads.at(-1)!.number
    await follower.waitHead(last, 60_000)
    const both = writeNodesBootstrap(join(files.dir, 'liar-first'), files, [liar, follower])
    const r = await sync(both)
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout)
    expect(s.height).toBe(follower.heads.at(-1)!.number)
    expect(liar.events.some((e) => e.event === 'corrupted' && e.kind === 'validators')).toBe(true)
    const row = s.peers.find((p: { peer: string }) => p.peer === liar.ready.peerId)
    expect(row.banned).toMatch(/validator set/)
    expect(r.stderr).toContain(`banned ${liar.ready.peerId}`)
    expect(s.peers.find((p: { peer: string }) => p.peer === follower.ready.peerId).banned).toBeNull()
  }, 120_000)
})
