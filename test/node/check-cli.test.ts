/**
 * `rootsync check` end to end: real `rootsync serve` processes (an honest producer, lying
 * corrupt-serve.ts nodes, a fresh node) over libp2p, real LevelDB data directories synced at block 1
 * (a state every run of this devnet has: block 1's transactions follow from the genesis alone, so a
 * fixed --seed samples the same accounts every run). Each scenario works on its own copy of that
 * synced directory.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import type {
  ConsistencyResult,
  Discrepancy,
  EquivocationEvidence,
} from '../../src/core/consistency/types.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { decodeNode } from '../../src/core/trie/node.ts'
import { Trie } from '../../src/core/trie/trie.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { type StoredLeaf, storedAccountLeaves } from '../helpers/account-leaves.ts'
import { runCli } from '../helpers/cli.ts'
import { raisedBalanceLeaf } from '../helpers/consistency-lies.ts'
import {
  CORRUPT_SERVE,
  makeDevnetFiles,
  type NodeProc,
  startDevnetNodes,
  startNode,
  stopAllNodes,
  writeNodesBootstrap,
} from '../helpers/nodes.ts'

type CheckOut = ConsistencyResult & { evidenceFile: string | null }

let files: ReturnType<typeof makeDevnetFiles>
let honest: NodeProc
const lying: Record<string, NodeProc> = {}
let bootstrap: string
/** A data directory synced at block 1 (never checked itself: each scenario copies it). */
let base: string

const fresh = (tag: string) => mkdtempSync(join(tmpdir(), `rootsync-check-${tag}-`))
const copyOfBase = (tag: string) => {
  const dir = fresh(tag)
  cpSync(base, dir, { recursive: true })
  return dir
}

async function check(dir: string, peers: NodeProc[], args: string[]) {
  const r = await runCli(
    [
      'check',
      '--data',
      dir,
      '--bootstrap',
      bootstrap,
      '--json',
      '--peers',
      String(peers.length),
      ...peers.flatMap((p) => ['--peer', p.ws]),
      ...args,
    ],
    { timeoutMs: 90_000 },
  )
  let out: CheckOut
  try {
    out = JSON.parse(r.stdout)
  } catch {
    throw new Error(`check printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`)
  }
  const peer = (n: NodeProc) => {
    const p = out.peers.find((x) => x.peer === n.ready.peerId)
    if (!p) throw new Error(`${n.name} is not in the check's peers: ${JSON.stringify(out.peers)}`)
    return p
  }
  return { code: r.code, stderr: r.stderr, out, peer }
}

async function withStore<T>(dir: string, f: (s: LevelNodeStore) => Promise<T>): Promise<T> {
  const store = await LevelNodeStore.open(join(dir, 'db'))
  try {
    return await f(store)
  } finally {
    await store.close()
  }
}

const syncedRoot = (dir: string) => withStore(dir, async (s) => toHex((await readSyncedRoot(s))!.root))
const verify = (dir: string) => runCli(['verify', '--data', dir, '--json'])
const lies = (n: NodeProc, kind: string) =>
  n.events.filter((e) => e.event === 'corrupted' && e.kind === kind).length

/**
 * Replaces every 20th account leaf (5%, by key order) with a well-formed leaf of another balance
 * under the same key; returns the damaged leaves as they were.
 */
const damageLeaves = (dir: string) =>
  withStore(dir, async (store) => {
    const root = (await readSyncedRoot(store))!.root
    const leaves = (await storedAccountLeaves(store, root)).sort((a, b) => a.key.localeCompare(b.key))
    const picked = leaves.filter((_, i) => i % 20 === 10)
    await store.write({ nodes: picked.map((l) => [l.hash, raisedBalanceLeaf(l.node)!.node]) })
    return picked
  })

/** Each damaged account, looked up in the state under the synced root, against its value before. */
const lookups = (dir: string, damaged: StoredLeaf[]) =>
  withStore(dir, async (store) => {
    const trie = new Trie(store, { root: (await readSyncedRoot(store))!.root })
    const out: { key: string; now: string | null; was: string }[] = []
    for (const l of damaged) {
      const v = await trie.get(Uint8Array.from(Buffer.from(l.key.slice(2), 'hex')))
      const was = decodeNode(l.node)
      if (was.kind !== 'leaf') throw new Error('not a leaf')
      out.push({ key: l.key, now: v ? toHex(v) : null, was: toHex(was.value) })
    }
    return out
  })

beforeAll(async () => {
  files = makeDevnetFiles({ seed: 'check-cli', accounts: 400, contracts: 10, slots: 4 })
  const common = ['--genesis', files.genesisFile, '--retain', '5000']
  honest = (await startDevnetNodes(files, { followers: 0, blockTime: 1000 }))[0]!
  // makeDevnetFiles writes genesis.json into files.dir: a recovery the check escalates to can replay.
  bootstrap = writeNodesBootstrap(files.dir, files, [honest])
  await honest.waitHead(1)
  base = fresh('base')
  const s = await runCli(['sync', '--data', base, '--bootstrap', bootstrap, '--height', '1', '--json'])
  expect(s.code, s.stderr).toBe(0)

  const modes = [
    ['liar-1', 'liar'],
    ['liar-2', 'liar'],
    ['unsigned', 'root-unsigned'],
    ['other-root', 'proof-other-root'],
    ['other-address', 'proof-other-address'],
    ['equivocate', 'root-equivocate'],
    ['garbage', 'root-garbage'],
  ]
  const start = ([name, mode]: string[]) =>
    startNode(
      name!,
      join(files.dir, name!),
      [...common, '--follow', honest.ws, '--mode', mode!, '--keys', files.keysFile],
      { script: CORRUPT_SERVE },
    ).then((n) => (lying[name!] = n))
  // Two at a time: each builds the genesis state, and the machine is small.
  for (let i = 0; i < modes.length; i += 2) await Promise.all(modes.slice(i, i + 2).map(start))
  // A node of the same chain that follows no one: its head is genesis, block 1 is not there.
  lying.fresh = await startNode('fresh', join(files.dir, 'fresh'), ['--genesis', files.genesisFile])
  await Promise.all(Object.values(lying).map((n) => (n.name === 'fresh' ? null : n.waitHead(1, 60_000))))
}, 240_000)

afterAll(() => stopAllNodes())

describe('rootsync check', () => {
  it('a lying majority (3 of 4 peers claim another header at the height and serve other values): liars charged, the honest peer confirms, the local state untouched', async () => {
    const dir = copyOfBase('majority')
    const root = await syncedRoot(dir)
    const liars = [lying['liar-1']!, lying.unsigned!, lying['liar-2']!]
    const r = await check(dir, [...liars, honest], ['--accounts', '16', '--seed', 'majority'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.out.root).toBe(root)
    expect(r.out.height).toBe(1)
    expect(r.peer(honest)).toMatchObject({ root: 'match', charged: null })
    expect(r.peer(honest).proofsValid).toBeGreaterThan(0)
    for (const l of liars) {
      expect(r.peer(l).root, l.name).toBe('invalid')
      expect(r.peer(l).charged, l.name).toBeTruthy()
      expect(lies(l, 'root'), l.name).toBeGreaterThan(0)
    }
    expect(r.out.accountMatches).toBeGreaterThan(0)
    expect(r.out.repaired).toEqual([])
    expect(r.out.recovery).toBeNull()
    const liarIds = liars.map((l) => l.ready.peerId)
    for (const d of r.out.discrepancies) {
      expect(d).toMatchObject({ kind: 'InvalidPeerData', action: 'charged' })
      if (d.kind === 'InvalidPeerData') expect(liarIds).toContain(d.peer)
    }
    expect(await syncedRoot(dir)).toBe(root)
    const v = await verify(dir)
    expect(v.code, v.stdout).toBe(0)
  }, 90_000)

  it('valid proofs from an older root, or of another address, are rejected and charged', async () => {
    const dir = copyOfBase('proofs')
    const otherRoot = lying['other-root']!
    const a = await check(dir, [otherRoot, honest], ['--accounts', '8', '--seed', 'other-root'])
    expect(a.code, a.stderr).toBe(0)
    expect(lies(otherRoot, 'range') + lies(otherRoot, 'proof')).toBeGreaterThan(0)
    expect(a.peer(otherRoot).root).toBe('match')
    expect(a.peer(otherRoot).proofsInvalid).toBeGreaterThan(0)
    expect(a.peer(otherRoot).charged).toBeTruthy()
    expect(a.peer(honest)).toMatchObject({ charged: null, proofsInvalid: 0 })
    expect(a.out.discrepancies).toContainEqual(
      expect.objectContaining({ kind: 'InvalidPeerData', peer: otherRoot.ready.peerId, what: 'proof' }),
    )

    const otherAddress = lying['other-address']!
    const watched = toHex(files.genesis.alloc[0]![0])
    const b = await check(dir, [otherAddress, honest], ['--accounts', '4', '--watch', watched])
    expect(b.code, b.stderr).toBe(0)
    expect(lies(otherAddress, 'proof')).toBeGreaterThan(0)
    expect(b.peer(otherAddress).proofsInvalid).toBeGreaterThan(0)
    expect(b.peer(otherAddress).charged).toBeTruthy()
    expect(b.out.discrepancies).toContainEqual(
      expect.objectContaining({ kind: 'InvalidPeerData', peer: otherAddress.ready.peerId, what: 'proof' }),
    )
    expect((await verify(dir)).code).toBe(0)
  }, 90_000)

  it('local corruption (5% of the account leaves replaced): found and repaired, every damaged account reads its value again; --no-repair reports and leaves it', async () => {
    const dir = copyOfBase('corrupt')
    const kept = copyOfBase('corrupt-kept')
    const damaged = await damageLeaves(dir)
    expect(await damageLeaves(kept)).toEqual(damaged)
    expect(damaged.length).toBeGreaterThan(10)
    expect((await verify(dir)).code).toBe(1)
    const keys = new Set(damaged.map((l) => l.key))
    // A mismatch names the damaged account; damage met on the way names the damaged node.
    const expectDamaged = (d: Discrepancy) => {
      if (d.kind === 'AccountMismatch') expect(keys).toContain(d.path.account)
      else if (d.kind === 'LocalDamage') expect(damaged.map((l) => toHex(l.hash))).toContain(d.hash)
    }
    const args = ['--accounts', '64', '--seed', 'corruption']

    const r = await check(dir, [honest], args)
    expect(r.code, r.stderr).toBe(0)
    const found = r.out.discrepancies.filter((d) => d.kind === 'AccountMismatch' || d.kind === 'LocalDamage')
    expect(found.length).toBeGreaterThan(0)
    for (const d of found) {
      expectDamaged(d)
      expect(['repaired', 'recovery']).toContain(d.action)
    }
    expect(r.out.repaired).toHaveLength(found.filter((d) => d.action === 'repaired').length)
    const v = await verify(dir)
    expect(v.code, v.stdout).toBe(0)
    for (const l of await lookups(dir, damaged)) expect(l.now, l.key).toBe(l.was)

    const no = await check(kept, [honest], [...args, '--no-repair'])
    expect(no.code, no.stderr).toBe(3)
    const reported = no.out.discrepancies.filter(
      (d) => d.kind === 'AccountMismatch' || d.kind === 'LocalDamage',
    )
    expect(reported.length).toBeGreaterThan(0)
    for (const d of reported) {
      expectDamaged(d)
      expect(d.action).toBe('reported')
    }
    expect(no.out.repaired).toEqual([])
    expect((await verify(kept)).code).toBe(1)
    // Left as it was: every damaged leaf still holds the bytes written over it.
    const stored = await withStore(kept, (store) => Promise.all(damaged.map((l) => store.getNode(l.hash))))
    expect(stored.map((b) => toHex(b!))).toEqual(damaged.map((l) => toHex(raisedBalanceLeaf(l.node)!.node)))
  }, 120_000)

  it('equivocation: a second header at the height with a validator quorum exits 4, names the double signers, writes the evidence, and keeps it for the next check', async () => {
    const dir = copyOfBase('equivocation')
    const eq = lying.equivocate!
    const r = await check(dir, [honest, eq], ['--accounts', '4', '--seed', 'equivocation'])
    expect(r.code, r.stderr).toBe(4)
    expect(eq.events.some((e) => e.event === 'equivocated')).toBe(true)
    expect(r.peer(eq).root).toBe('equivocation')
    expect(r.peer(honest).root).toBe('match')
    const file = join(dir, 'evidence-1.json')
    expect(r.out.evidenceFile).toBe(file)
    expect(r.stderr).toContain(file)
    const evidence = JSON.parse(readFileSync(file, 'utf8')) as EquivocationEvidence[]
    expect(evidence).toHaveLength(1)
    expect(evidence[0]).toMatchObject({ height: 1, peer: eq.ready.peerId, acknowledgedAt: null })
    // The devnet's blocks and the lie are both signed by every validator: all of them signed twice.
    expect(evidence[0]!.doubleSigners.map((s) => s.index)).toEqual(files.genesis.validators.map((_, i) => i))
    expect(evidence[0]!.doubleSigners.map((s) => s.address)).toEqual(files.genesis.validators.map(toHex))
    expect(evidence[0]!.local.hash).not.toBe(evidence[0]!.conflicting.hash)
    // It carries the set both headers name, so it is verified again without the chain.
    expect(evidence[0]!.validators).toEqual(files.genesis.validators.map(toHex))

    // Asked of the honest peer alone, the next check still reports it: the evidence is in the store.
    const again = join(dir, 'again.json')
    const r2 = await check(dir, [honest], ['--accounts', '4', '--evidence', again])
    expect(r2.code, r2.stderr).toBe(4)
    expect(existsSync(again)).toBe(true)
    expect((JSON.parse(readFileSync(again, 'utf8')) as EquivocationEvidence[])[0]!.id).toBe(evidence[0]!.id)

    // The user acknowledges it (an unknown id is refused): the next check goes on, the evidence is kept.
    const unknown = await runCli(['check', '--data', dir, '--acknowledge', `0x${'00'.repeat(32)}`])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toContain('no equivocation evidence has the id')
    const ack = await runCli(['check', '--data', dir, '--acknowledge', evidence[0]!.id])
    expect(ack.code, ack.stderr).toBe(0)
    expect(ack.stdout).toContain(evidence[0]!.id)
    const r3 = await check(dir, [honest], ['--accounts', '4'])
    expect(r3.code, r3.stderr).toBe(0)
    expect(r3.out.evidenceFile).toBeNull()
  }, 120_000)

  it('a peer without the height is not charged; a peer answering with a header that does not decode is', async () => {
    const dir = copyOfBase('unavailable')
    const [none, garbage] = [lying.fresh!, lying.garbage!]
    const r = await check(dir, [none, garbage, honest], ['--accounts', '8', '--seed', 'unavailable'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.peer(none)).toMatchObject({ root: 'unavailable', charged: null, proofsInvalid: 0 })
    expect(r.peer(garbage).root).toBe('invalid')
    expect(r.peer(garbage).charged).toBeTruthy()
    expect(lies(garbage, 'root')).toBeGreaterThan(0)
    expect(r.peer(honest)).toMatchObject({ root: 'match', charged: null })
    expect(r.stderr).not.toContain(`banned ${none.ready.peerId}`)
  }, 90_000)

  it('a data directory with no complete state exits 1 and says what to do', async () => {
    const r = await runCli(['check', '--data', fresh('empty'), '--bootstrap', bootstrap, '--peer', honest.ws])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('rootsync sync')
  }, 30_000)
})
