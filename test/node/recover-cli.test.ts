/**
 * `rootsync recover` end to end: real `rootsync serve` processes over libp2p, real LevelDB data
 * directories. Each strategy recovers where it applies and says why it does not where it does not;
 * the recovered state passes `rootsync verify` and the completion marker names the target's root.
 */
import { cpSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/core/bytes.ts'
import { LIMITS } from '../../src/core/protocol/messages.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { type BranchNode, decodeNode } from '../../src/core/trie/node.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { runCli } from '../helpers/cli.ts'
import {
  CORRUPT_SERVE,
  makeDevnetFiles,
  type NodeProc,
  startDevnetNodes,
  startNode,
  stopAllNodes,
  writeNodesBootstrap,
} from '../helpers/nodes.ts'

interface Attempt {
  strategy: string
  outcome: 'recovered' | 'not-applicable' | 'failed'
  reason: string | null
  ms: number
  bytes: number
  nodes: number
  blocks: number
}
interface RecoverOut {
  root: string | null
  height: number | null
  strategy: string | null
  attempts: Attempt[]
}

let files: ReturnType<typeof makeDevnetFiles>
let nodes: NodeProc[]
/** Bootstrap with genesis.json beside it (replay from genesis possible). */
let withGenesis: string
/** The same bootstrap in a directory without genesis.json. */
let noGenesis: string
let client: Libp2p
let peer: PeerClient
/**
 * A height fixed once the nodes run, the target of the replays from genesis: to the latest head,
 * a replay's length would grow with the chain as the file runs (its length is not what they test).
 */
let replayHeight: number

const fresh = (tag: string) => mkdtempSync(join(tmpdir(), `rootsync-recover-${tag}-`))

const writeBootstrap = (dir: string, procs: NodeProc[]) => writeNodesBootstrap(dir, files, procs)

async function recover(args: string[]): Promise<{ code: number | null; stderr: string; out: RecoverOut }> {
  const r = await runCli(['recover', '--json', ...args], { timeoutMs: 90_000 })
  let out: RecoverOut
  try {
    out = JSON.parse(r.stdout)
  } catch {
    throw new Error(`recover printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`)
  }
  return { code: r.code, stderr: r.stderr, out }
}

async function syncedRoot(dir: string): Promise<string | null> {
  const store = await LevelNodeStore.open(join(dir, 'db'))
  try {
    const r = await readSyncedRoot(store)
    return r ? toHex(r.root) : null
  } finally {
    await store.close()
  }
}

/** The state root the devnet's verified header at `height` commits to. */
async function rootAt(height: number): Promise<string> {
  const [h] = await peer.headers(height, 1)
  return toHex(h!.header.stateRoot)
}

/** Recovered: the target's root is the marker's, and `rootsync verify` passes on it. */
async function expectRecovered(dir: string, out: RecoverOut): Promise<void> {
  expect(out.root).toBe(await rootAt(out.height!))
  expect(await syncedRoot(dir)).toBe(out.root)
  const v = await runCli(['verify', '--data', dir, '--json'])
  expect(v.code, v.stderr).toBe(0)
  expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, root: out.root })
}

async function childOf(store: LevelNodeStore, hash: Uint8Array, i: number): Promise<Uint8Array> {
  const c = (decodeNode((await store.getNode(hash))!) as BranchNode).children[i]!
  if (c.kind !== 'hash') throw new Error('expected a hashed child')
  return c.hash
}

const shape = (out: RecoverOut) =>
  out.attempts.map((a) => [a.strategy, a.outcome, a.reason?.split(':')[0] ?? null])

async function sync(dir: string, ...target: string[]) {
  const r = await runCli(['sync', '--data', dir, '--bootstrap', withGenesis, ...target, '--json'])
  expect(r.code, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { root: string; height: number; nodes: number; bytes: number }
}

beforeAll(async () => {
  files = makeDevnetFiles({ seed: 'recover-cli', accounts: 3000, contracts: 20, slots: 10 })
  nodes = await startDevnetNodes(files)
  const producer = nodes[0]!
  // makeDevnetFiles writes genesis.json into files.dir: that bootstrap can replay from genesis.
  withGenesis = writeBootstrap(files.dir, nodes)
  noGenesis = writeBootstrap(join(files.dir, 'no-genesis'), nodes)
  client = await createClientLibp2p()
  peer = new PeerClient(client, multiaddr(producer.ws))
  await Promise.all(nodes.map((n) => n.waitHead(3)))
  replayHeight = producer.heads.at(-1)!.number
}, 120_000)

afterAll(async () => {
  peer?.close()
  await client?.stop()
  await stopAllNodes()
})

describe('rootsync recover', () => {
  it('local: a synced state at H recovers H with no download; a later height with --strategies local replays the blocks between', async () => {
    const dir = fresh('local')
    const s = await sync(dir, '--latest')
    const at = await recover(['--data', dir, '--bootstrap', noGenesis, '--height', String(s.height)])
    expect(at.code, at.stderr).toBe(0)
    expect(shape(at.out)).toEqual([['local', 'recovered', null]])
    expect(at.out).toMatchObject({ root: s.root, height: s.height, strategy: 'local' })
    expect(at.out.attempts[0]!.bytes).toBe(0)
    expect(at.out.attempts[0]!.blocks).toBe(0)
    await expectRecovered(dir, at.out)

    await nodes[0]!.waitHead(s.height + 5)
    const later = await recover([
      '--data',
      dir,
      '--bootstrap',
      noGenesis,
      '--latest',
      '--strategies',
      'local',
    ])
    expect(later.code, later.stderr).toBe(0)
    expect(shape(later.out)).toEqual([['local', 'recovered', null]])
    expect(later.out.height).toBeGreaterThanOrEqual(s.height + 5)
    expect(later.out.attempts[0]!.blocks).toBe(later.out.height! - s.height)
    await expectRecovered(dir, later.out)
  }, 120_000)

  it('peer: a damaged store (a deleted and a corrupt record): the local snapshot fails its check, peer repair recovers with a small download', async () => {
    const dir = fresh('peer')
    const s = await sync(dir, '--latest')
    const store = await LevelNodeStore.open(join(dir, 'db'))
    try {
      const r = (await readSyncedRoot(store))!.root
      const a = await childOf(store, r, 4)
      const b = await childOf(store, await childOf(store, r, 9), 2)
      const bad = (await store.getNode(b))!.slice()
      bad[7]! ^= 0x55
      await store.write({ deleteNodes: [a], nodes: [[b, bad]] })
    } finally {
      await store.close()
    }
    expect((await runCli(['verify', '--data', dir])).code).toBe(1)
    // --full-check: the snapshot check walks the whole state, so it meets the damage every time (the
    // default 64 sampled paths miss a sixteenth of the trie about once in 60 runs; replay from the
    // snapshot then fails instead, with REPLAY_STATE_DAMAGED).
    const r = await recover(['--data', dir, '--bootstrap', noGenesis, '--latest', '--full-check'])
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([
      ['local', 'failed', 'LOCAL_SNAPSHOTS_DAMAGED'],
      ['peer', 'recovered', null],
    ])
    const repair = r.out.attempts[1]!
    expect(repair.nodes).toBeGreaterThan(0)
    // A repair downloads what is damaged or changed, far less than the whole state.
    expect(repair.bytes).toBeLessThan(s.bytes / 4)
    await expectRecovered(dir, r.out)
  }, 120_000)

  // From here on each case starts from an empty store of its own: they run side by side.
  it.concurrent('replay: an empty store with genesis.json beside the bootstrap replays every block from genesis', async () => {
    const dir = fresh('replay')
    const r = await recover([
      '--data',
      dir,
      '--bootstrap',
      withGenesis,
      '--height',
      String(replayHeight),
      '--strategies',
      'local,peer,replay',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([
      ['local', 'not-applicable', 'NO_LOCAL_SNAPSHOT'],
      ['peer', 'not-applicable', 'NO_LOCAL_STATE'],
      ['replay', 'recovered', null],
    ])
    expect(r.out.height).toBe(replayHeight)
    expect(r.out.attempts[2]!.blocks).toBe(r.out.height)
    await expectRecovered(dir, r.out)
  }, 120_000)

  it.concurrent('snapshot: an empty store and no genesis file: local, peer and replay do not apply, the network snapshot recovers', async () => {
    const dir = fresh('snapshot')
    const r = await recover(['--data', dir, '--bootstrap', noGenesis, '--latest'])
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([
      ['local', 'not-applicable', 'NO_LOCAL_SNAPSHOT'],
      ['peer', 'not-applicable', 'NO_LOCAL_STATE'],
      ['replay', 'not-applicable', 'REPLAY_NO_START'],
      ['snapshot', 'recovered', null],
    ])
    expect(r.out.attempts[3]!.bytes).toBeGreaterThan(0)
    await expectRecovered(dir, r.out)
  }, 120_000)

  it.concurrent('all fail: an empty store with --strategies local,peer exits 1 with every reason and marks nothing complete', async () => {
    const dir = fresh('fail')
    const r = await recover([
      '--data',
      dir,
      '--bootstrap',
      noGenesis,
      '--latest',
      '--strategies',
      'local,peer',
    ])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('rootsync recover: state recovery failed')
    expect(r.out).toMatchObject({ root: null, height: null, strategy: null })
    expect(shape(r.out)).toEqual([
      ['local', 'not-applicable', 'NO_LOCAL_SNAPSHOT'],
      ['peer', 'not-applicable', 'NO_LOCAL_STATE'],
    ])
    expect(await syncedRoot(dir)).toBeNull()
  }, 60_000)
})

// The two suites below use peers of their own (and data directories of their own): they run side by
// side, and so do the cases of the second.
describe.concurrent('rootsync recover from peers that prune', () => {
  let short: NodeProc
  let shortPeer: PeerClient
  beforeAll(async () => {
    short = await startNode('short', join(files.dir, 'short'), [
      '--genesis',
      files.genesisFile,
      '--retain',
      '10',
      '--follow',
      nodes[0]!.ws,
    ])
    shortPeer = new PeerClient(client, multiaddr(short.ws))
  }, 60_000)
  afterAll(() => shortPeer?.close())

  it('a returning user older than the retention window: sync moves on, recover restores the latest state', async () => {
    const dir = fresh('returning')
    const old = await sync(dir, '--latest', '--peer', short.ws)
    // The serving node keeps only its last 10 states: wait until it has dropped the one synced.
    await expect
      .poll(async () => (await shortPeer.status()).oldestStateNumber, { timeout: 60_000, interval: 500 })
      .toBeGreaterThan(old.height)
    const copy = fresh('returning-copy')
    cpSync(dir, copy, { recursive: true })

    const again = await runCli([
      'sync',
      '--data',
      dir,
      '--bootstrap',
      noGenesis,
      '--latest',
      '--json',
      '--peer',
      short.ws,
    ])
    // sync moves on to the peers' latest state (re-targeting if the head it picked is pruned
    // meanwhile), downloading only the subtrees it does not hold.
    expect(again.code, again.stderr).toBe(0)
    const moved = JSON.parse(again.stdout)
    expect(moved.height).toBeGreaterThan(old.height)
    expect(moved.skipped).toBeGreaterThan(0)
    expect(await syncedRoot(dir)).toBe(moved.root)

    const r = await recover(['--data', copy, '--bootstrap', noGenesis, '--latest', '--peer', short.ws])
    expect(r.code, r.stderr).toBe(0)
    // The local snapshot is checked and the blocks since are replayed (peers keep blocks, not states).
    expect(shape(r.out)).toEqual([['local', 'recovered', null]])
    expect(r.out.attempts[0]!.blocks).toBe(r.out.height! - old.height)
    await expectRecovered(copy, r.out)
  }, 120_000)
})

/**
 * The replay from a liar listed first and an honest peer targets a fixed height (not the latest head,
 * whose replay grows with the chain as the file runs) that takes two block requests: peers are asked
 * in turn, so one of the two goes to the liar.
 */
const LIAR_REPLAY_HEIGHT = LIMITS.maxBlocks + 1

describe.concurrent('rootsync recover with lying peers', () => {
  const liars: Record<string, NodeProc> = {}
  beforeAll(async () => {
    await Promise.all(
      ['range-forged-proof', 'range-unavailable', 'blocks-altered'].map(
        async (mode) =>
          (liars[mode] = await startNode(
            mode,
            join(files.dir, mode),
            ['--genesis', files.genesisFile, '--follow', nodes[0]!.ws, '--mode', mode],
            { script: CORRUPT_SERVE },
          )),
      ),
    )
    await nodes[0]!.waitHead(LIAR_REPLAY_HEIGHT, 60_000)
    const head = nodes[0]!.heads.at(-1)!.number
    await Promise.all(Object.values(liars).map((l) => l.waitHead(head, 60_000)))
  }, 180_000)

  /**
   * Recovers into `dir` with one strategy, from the liar (listed first) and an honest follower, to
   * `target` (default the latest head).
   */
  const fromLiarFirst = (
    dir: string,
    boot: string,
    strategy: string,
    liar: NodeProc,
    target = ['--latest'],
  ) =>
    recover([
      '--data',
      dir,
      '--bootstrap',
      boot,
      ...target,
      '--strategies',
      strategy,
      '--peer',
      liar.ws,
      '--peer',
      nodes[1]!.ws,
    ])

  const corrupted = (n: NodeProc) => n.events.filter((e) => e.event === 'corrupted').length

  /**
   * A snapshot target both peers hold: the producer's head now, once the liar and the honest peer
   * have imported it. `--latest` would follow the chain, and a liar a block behind the newest head
   * lacks its state and is never asked (seen on a loaded machine).
   */
  const heldByBoth = async (liar: NodeProc) => {
    const h = nodes[0]!.heads.at(-1)!.number
    await Promise.all([liar.waitHead(h, 60_000), nodes[1]!.waitHead(h, 60_000)])
    return ['--height', String(h)]
  }

  it('network snapshot: a peer forging range proofs, listed first, is banned and the honest peer completes it', async () => {
    const liar = liars['range-forged-proof']!
    const r = await fromLiarFirst(fresh('snap-liar'), noGenesis, 'snapshot', liar, await heldByBoth(liar))
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([['snapshot', 'recovered', null]])
    expect(corrupted(liar)).toBeGreaterThan(0)
    expect(r.stderr).toContain(`banned ${liar.ready.peerId}`)
  }, 120_000)

  it('network snapshot: a peer that lacks the root (UNAVAILABLE) is not banned', async () => {
    const dir = fresh('snap-unavailable')
    const liar = liars['range-unavailable']!
    const r = await fromLiarFirst(dir, noGenesis, 'snapshot', liar, await heldByBoth(liar))
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([['snapshot', 'recovered', null]])
    expect(corrupted(liar)).toBeGreaterThan(0)
    expect(r.stderr).not.toContain('banned')
    await expectRecovered(dir, r.out)
  }, 120_000)

  it('block replay: a peer serving a block with an altered transaction is banned and the honest peer completes the replay', async () => {
    const dir = fresh('replay-liar')
    const liar = liars['blocks-altered']!
    const r = await fromLiarFirst(dir, withGenesis, 'replay', liar, ['--height', String(LIAR_REPLAY_HEIGHT)])
    expect(r.code, r.stderr).toBe(0)
    expect(shape(r.out)).toEqual([['replay', 'recovered', null]])
    expect(r.out.height).toBe(LIAR_REPLAY_HEIGHT)
    expect(r.out.attempts[0]!.blocks).toBe(r.out.height)
    expect(corrupted(liar)).toBeGreaterThan(0)
    expect(r.stderr).toContain(`banned ${liar.ready.peerId}`)
    await expectRecovered(dir, r.out)
  }, 120_000)
})
