/**
 * `rootsync verify` on a real LevelDB data directory synced by `rootsync sync` from a real devnet
 * node over libp2p, then damaged: a deleted record, flipped bytes in a record, a damaged LevelDB
 * file. Verify reports each damaged entry (problem, hash, path) and exits 1; clean, it exits 0.
 */
import { cpSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { type BranchNode, decodeNode } from '../../src/core/trie/node.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { runCli } from '../helpers/cli.ts'
import { makeDevnetFiles, nodesBootstrap, startNode, stopAllNodes } from '../helpers/nodes.ts'

const syncDir = mkdtempSync(join(tmpdir(), 'rootsync-verify-'))
let root: string
let total: { nodes: number; code: number; accounts: number }

beforeAll(async () => {
  const files = makeDevnetFiles({ seed: 'verify-cli', accounts: 1500, contracts: 10, slots: 8 })
  const producer = await startNode('producer', join(files.dir, 'node-0'), [
    '--genesis',
    files.genesisFile,
    '--produce',
    files.keysFile,
    '--block-time',
    '300',
    '--txs',
    '5',
  ])
  await producer.waitHead(1)
  const genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis))))
  const bootstrap = join(files.dir, 'bootstrap.json')
  writeFileSync(bootstrap, JSON.stringify(nodesBootstrap(files, genesisHash, [producer])))
  const r = await runCli(['sync', '--data', syncDir, '--bootstrap', bootstrap, '--latest', '--json'])
  expect(r.code, r.stderr).toBe(0)
  root = JSON.parse(r.stdout).root
  await stopAllNodes()
}, 120_000)

afterAll(() => stopAllNodes())

/** A copy of the synced data directory, damaged by `damage` (with the store open). */
async function damaged(damage: (store: LevelNodeStore, root: Uint8Array) => Promise<void>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rootsync-verify-damaged-'))
  cpSync(syncDir, dir, { recursive: true })
  const store = await LevelNodeStore.open(join(dir, 'db'))
  try {
    await damage(store, (await readSyncedRoot(store))!.root)
  } finally {
    await store.close()
  }
  return dir
}

async function childOf(store: LevelNodeStore, hash: Uint8Array, i: number): Promise<Uint8Array> {
  const c = (decodeNode((await store.getNode(hash))!) as BranchNode).children[i]!
  if (c.kind !== 'hash') throw new Error('expected a hashed child')
  return c.hash
}

const verifyJson = async (dir: string, ...more: string[]) => {
  const r = await runCli(['verify', '--data', dir, '--json', ...more])
  return { code: r.code, stderr: r.stderr, report: JSON.parse(r.stdout) }
}

describe('rootsync verify', () => {
  it('a clean state: full walk and sampled check pass, exit 0 (--dry-run accepted)', async () => {
    const full = await verifyJson(syncDir, '--dry-run')
    expect(full.code).toBe(0)
    expect(full.report).toMatchObject({ ok: true, root, mode: 'full', damage: [] })
    total = full.report
    expect(total.accounts).toBeGreaterThanOrEqual(1500)
    const sampled = await verifyJson(syncDir, '--sample', '32')
    expect(sampled.code).toBe(0)
    expect(sampled.report).toMatchObject({ ok: true, root, mode: 'sampled', paths: 32, damage: [] })
    expect(sampled.report.nodes).toBeLessThan(total.nodes)
    const text = await runCli(['verify', '--data', syncDir])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`ok: state root ${root}`)
  }, 60_000)

  it('a deleted record and a record with flipped bytes: missing and corrupt, with hash and path; exit 1', async () => {
    let gone = ''
    let flipped = ''
    let nine = ''
    const dir = await damaged(async (store, r) => {
      const a = await childOf(store, r, 4)
      const b = await childOf(store, await childOf(store, r, 9), 2)
      const bad = (await store.getNode(b))!.slice()
      bad[7]! ^= 0x55
      await store.write({ deleteNodes: [a], nodes: [[b, bad]] })
      gone = toHex(a)
      nine = toHex(await childOf(store, r, 9))
      flipped = toHex(b)
    })
    const v = await verifyJson(dir)
    expect(v.code).toBe(1)
    expect(v.stderr).toContain(`state root ${root} is damaged: 2 damaged entries`)
    expect(v.report.ok).toBe(false)
    const byPath = [...v.report.damage].sort((x, y) => x.path.localeCompare(y.path))
    expect(byPath).toEqual([
      expect.objectContaining({
        problem: 'missing',
        hash: gone,
        kind: 'state',
        path: '4',
        ancestors: [root],
      }),
      expect.objectContaining({
        problem: 'corrupt',
        hash: flipped,
        kind: 'state',
        path: '92',
        ancestors: [root, nine],
      }),
    ])
    const text = await runCli(['verify', '--data', dir])
    expect(text.code).toBe(1)
    expect(text.stdout).toContain(`missing state ${gone} at path 4`)
    expect(text.stdout).toContain(`corrupt state ${flipped} at path 92`)
  }, 60_000)

  it('--sample N finds damage at the root of the state on every path', async () => {
    const dir = await damaged(async (store, r) => {
      const bad = (await store.getNode(r))!.slice()
      bad[bad.length - 2]! ^= 1
      await store.write({ nodes: [[r, bad]] })
    })
    const v = await verifyJson(dir, '--sample', '8')
    expect(v.code).toBe(1)
    expect(v.report).toMatchObject({ mode: 'sampled', paths: 8 })
    expect(v.report.damage).toEqual([
      expect.objectContaining({ problem: 'corrupt', hash: root, path: '', ancestors: [] }),
    ])
  }, 60_000)

  it('a damaged LevelDB table file: the entries it held are reported, with hashes and paths; exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-verify-file-'))
    cpSync(syncDir, dir, { recursive: true })
    const db = join(dir, 'db')
    // The clean verify above reopened the store, which moved the sync's log into a table file.
    const [table] = readdirSync(db)
      .filter((f) => f.endsWith('.ldb'))
      .map((f) => ({ f, size: statSync(join(db, f)).size }))
      .sort((a, b) => b.size - a.size)
    expect(table).toBeDefined()
    const fh = await open(join(db, table!.f), 'r+')
    // One 4 KB stretch in the middle overwritten: a few data blocks no longer read.
    await fh.write(Buffer.alloc(4096, 0xa5), 0, 4096, Math.floor(table!.size / 2))
    await fh.close()
    const v = await verifyJson(dir)
    expect(v.code).toBe(1)
    expect(v.report.ok).toBe(false)
    expect(v.report.damage.length).toBeGreaterThan(0)
    for (const d of v.report.damage) {
      expect(['missing', 'corrupt', 'undecodable']).toContain(d.problem)
      expect(d.hash).toMatch(/^0x[0-9a-f]{64}$/)
      expect(d.path).toMatch(/^[0-9a-f]*$/)
      expect(d.ancestors[0] ?? d.hash).toBe(root)
    }
    // Fewer entries were read whole than in the clean state.
    expect(v.report.nodes + v.report.code).toBeLessThan(total.nodes + total.code)
  }, 60_000)
})
