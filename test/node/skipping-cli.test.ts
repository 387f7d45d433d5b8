/**
 * `rootsync sync` and `check` with the trust options: a trusting period below a minute and a
 * malformed or half-given checkpoint override are usage errors naming the option (exit 2); a fresh
 * checkpoint given with its validators replaces the bootstrap's, against a real devnet.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { parseBootstrap } from '../../src/core/light/config.ts'
import { META } from '../../src/core/meta-keys.ts'
import { genesisBootstrap } from '../../src/node/commands/devnet.ts'
import { withTrustOverrides } from '../../src/node/commands/light-run.ts'
import { UsageError } from '../../src/node/commands/usage.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { runCli } from '../helpers/cli.ts'
import {
  genesisHashOf,
  makeDevnetFiles,
  type NodeProc,
  startDevnetNodes,
  stopAllNodes,
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

describe('trust options against a devnet', () => {
  let files: ReturnType<typeof makeDevnetFiles>
  let nodes: NodeProc[]
  let bootstrap: string

  beforeAll(async () => {
    files = makeDevnetFiles({ accounts: 200, contracts: 2, slots: 2 })
    nodes = await startDevnetNodes(files, { followers: 0, blockTime: 200 })
    bootstrap = writeNodesBootstrap(files.dir, files, nodes)
    await nodes[0]!.waitHead(6)
  }, 60_000)

  afterAll(() => stopAllNodes())

  it('--checkpoint N:0xHASH --validators: the run trusts that block instead of the bootstrap one (a wrong set is refused)', async () => {
    const at = nodes[0]!.heads.find((h) => h.number === 4)!
    const validators = files.genesis.validators.map(toHex)
    const dir = tmp('checkpoint')
    const args = ['sync', '--data', dir, '--bootstrap', bootstrap, '--latest', '--json']
    const r = await runCli([...args, '--checkpoint', `4:${at.hash}`, '--validators', validators.join(',')])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).height).toBeGreaterThanOrEqual(4)
    const store = await LevelNodeStore.open(join(dir, 'db'))
    const kept = await store.getMeta(META.lightCheckpoint)
    await store.close()
    expect(toHex(kept!)).toBe(at.hash)

    // The same block with a set that is not the one it commits to: no header is trusted.
    const wrong = await runCli([
      ...args.map((a) => (a === dir ? tmp('checkpoint-wrong') : a)),
      '--checkpoint',
      `4:${at.hash}`,
      '--validators',
      [...validators].reverse().join(','),
    ])
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(/validators/)
  }, 60_000)
})
