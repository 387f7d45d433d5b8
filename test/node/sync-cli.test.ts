/**
 * `rootsync sync` and `rootsync verify` as real processes against a real 3-node devnet over libp2p.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountRefs } from '../../src/core/account.ts'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { applyBlock } from '../../src/core/chain/apply.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { StateDB } from '../../src/core/chain/state.ts'
import { checkpointOf, parseBootstrap } from '../../src/core/light/config.ts'
import { decodeStoredHead, decodeStoredPath, headRecords } from '../../src/core/light/trust.ts'
import { META } from '../../src/core/meta-keys.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { readSyncedRoot } from '../../src/core/sync/state-sync.ts'
import { verifyStoredState } from '../../src/core/sync/verify.ts'
import { childRefs, decodeNode, type RefKind } from '../../src/core/trie/node.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { LevelNodeStore } from '../../src/store/level-store.ts'
import { runCli } from '../helpers/cli.ts'
import { makeDevnetFiles, type NodeProc, nodesBootstrap, startNode, stopAllNodes } from '../helpers/nodes.ts'

let files: ReturnType<typeof makeDevnetFiles>
let nodes: NodeProc[]
let bootstrap: string
let client: Libp2p
let peer: PeerClient
// The chain replayed locally (genesis + blocks from a peer), to count what the state really holds.
const local = new MemoryNodeStore()
const localRoots = new Map<number, Uint8Array>()
let localHead = 0
let localState: StateDB

beforeAll(async () => {
  files = makeDevnetFiles({ accounts: 20_000, contracts: 50, slots: 20 })
  const common = ['--genesis', files.genesisFile, '--retain', '5000', '--metrics', '127.0.0.1:0']
  const producer = await startNode('producer', join(files.dir, 'node-0'), [
    ...common,
    '--produce',
    files.keysFile,
    '--block-time',
    // Fast blocks: the second case waits for the devnet to advance 100 of them.
    '100',
    '--txs',
    '10',
  ])
  const followers = await Promise.all(
    [1, 2].map((i) =>
      startNode(`follower-${i}`, join(files.dir, `node-${i}`), [...common, '--follow', producer.ws]),
    ),
  )
  nodes = [producer, ...followers]
  // The genesis state is built once: its nodes start the local replay, its root names the checkpoint.
  const nodesOut: [Uint8Array, Uint8Array][] = []
  const root = genesisStateRoot(files.genesis, (h, b) => nodesOut.push([h, b]))
  const genesisHash = toHex(headerHash(genesisHeader(files.genesis, root)))
  bootstrap = join(files.dir, 'bootstrap.json')
  writeFileSync(bootstrap, JSON.stringify(nodesBootstrap(files, genesisHash, nodes)))
  client = await createClientLibp2p()
  peer = new PeerClient(client, multiaddr(producer.ws))
  await local.write({ nodes: nodesOut })
  localRoots.set(0, root)
  localState = new StateDB(local, root)
  await Promise.all(nodes.map((n) => n.waitHead(2)))
}, 120_000)

afterAll(async () => {
  peer?.close()
  await client?.stop()
  await stopAllNodes()
})

/** Replays blocks up to `height` locally; returns the state root there. */
async function replayTo(height: number): Promise<Uint8Array> {
  while (localHead < height) {
    const blocks = await peer.blocks(localHead + 1, Math.min(64, height - localHead))
    for (const b of blocks) {
      const r = await applyBlock(localState, b, files.genesis.chainId)
      await local.write({ nodes: r.commit.nodes })
      r.commit.markStored()
      localState = r.state
      localHead = b.header.number
      localRoots.set(localHead, b.header.stateRoot)
    }
  }
  return localRoots.get(height)!
}

async function reachable(root: Uint8Array): Promise<Set<string>> {
  const seen = new Set<string>()
  const stack: { hash: Uint8Array; kind: RefKind }[] = [{ hash: root, kind: 'state' }]
  while (stack.length) {
    const f = stack.pop()!
    const k = toHex(f.hash)
    if (seen.has(k)) continue
    seen.add(k)
    if (f.kind === 'code') continue
    stack.push(
      ...childRefs(
        decodeNode((await local.getNode(f.hash))!),
        f.kind === 'storage' ? 'storage' : 'state',
        accountRefs,
      ),
    )
  }
  return seen
}

async function served(protocol = 'nodes'): Promise<number> {
  let total = 0
  for (const n of nodes) {
    const text = await (await fetch(n.ready.metrics!)).text()
    const m = new RegExp(`rootsync_items_served_total\\{protocol="${protocol}"\\} (\\d+)`).exec(text)
    total += m ? Number(m[1]) : 0
  }
  return total
}

const syncDir = mkdtempSync(join(tmpdir(), 'rootsync-sync-'))

describe('rootsync sync against a 3-node devnet', () => {
  let first: { root: string; height: number; nodes: number; headerHash: string }

  it('--latest --json ends with the root of a verified header; verify passes; totals match the devnet trie', async () => {
    const r = await runCli(['sync', '--data', syncDir, '--bootstrap', bootstrap, '--latest', '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    first = JSON.parse(r.stdout)
    // The root is the state root of the header at that height, which the devnet signed.
    const [h] = await peer.headers(first.height, 1)
    expect(toHex(headerHash(h!.header))).toBe(first.headerHash)
    expect(first.root).toBe(toHex(h!.header.stateRoot))
    const expected = await reachable(await replayTo(first.height))
    expect(toHex(localRoots.get(first.height)!)).toBe(first.root)
    expect(first.nodes).toBe(expected.size)
    const v = await runCli(['verify', '--data', syncDir, '--json'])
    expect(v.code).toBe(0)
    const report = JSON.parse(v.stdout)
    expect(report.root).toBe(first.root)
    expect(report.nodes + report.code).toBe(expected.size)
  }, 120_000)

  it('after the devnet advances 100 blocks, syncing to the new root downloads ≤ 1.1× the nodes that changed', async () => {
    await nodes[0]!.waitHead(first.height + 100, 60_000)
    const r = await runCli(['sync', '--data', syncDir, '--bootstrap', bootstrap, '--latest', '--json'])
    expect(r.code).toBe(0)
    const second = JSON.parse(r.stdout)
    expect(second.height).toBeGreaterThanOrEqual(first.height + 100)
    const before = await reachable(fromHex(first.root))
    const after = await reachable(await replayTo(second.height))
    const changed = [...after].filter((h) => !before.has(h)).length
    expect(second.nodes).toBeGreaterThanOrEqual(changed)
    expect(second.nodes).toBeLessThanOrEqual(Math.ceil(1.1 * changed))
    expect((await runCli(['verify', '--data', syncDir])).code).toBe(0)
  }, 120_000)

  it('a stored head whose signatures were tampered with is refused: the next run verifies from the checkpoint and says so', async () => {
    const cp = checkpointOf(parseBootstrap(JSON.parse(readFileSync(bootstrap, 'utf8'))))
    const store = await LevelNodeStore.open(join(syncDir, 'db'))
    const stored = decodeStoredHead(cp.chainId, (await store.getMeta(META.lightHead))!)
    const path = decodeStoredPath(cp.chainId, (await store.getMeta(META.lightPath))!)
    expect(stored.signed.signatures.length).toBeGreaterThan(0)
    const [sig, ...rest] = stored.signed.signatures
    const flipped = sig!.signature.slice()
    flipped[10]! ^= 0x01
    const tampered = {
      ...stored,
      signed: { ...stored.signed, signatures: [{ ...sig!, signature: flipped }, ...rest] },
    }
    await store.write({ meta: headRecords([...path.slice(0, -1), tampered], cp) })
    await store.close()

    const r = await runCli(['sync', '--data', syncDir, '--bootstrap', bootstrap, '--latest', '--json'])
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/ignoring the stored head .*verifying from the checkpoint/)
    const s = JSON.parse(r.stdout)
    // Not trusted: the checkpoint's block was fetched and verified again, then the new head.
    expect(s.trust.fetched).toBeGreaterThanOrEqual(2)

    // The head kept now is the newly verified one, with intact signatures: the next run trusts it.
    const again = await LevelNodeStore.open(join(syncDir, 'db'))
    const kept = decodeStoredHead(cp.chainId, (await again.getMeta(META.lightHead))!)
    await again.close()
    expect(kept.header.number).toBe(s.height)
    expect(toHex(kept.hash)).toBe(s.headerHash)
    const third = await runCli(['sync', '--data', syncDir, '--bootstrap', bootstrap, '--latest', '--json'])
    expect(third.code).toBe(0)
    expect(third.stderr).not.toMatch(/ignoring the stored head/)
    const t = JSON.parse(third.stdout)
    // From the stored head: at most the new head is fetched (the checkpoint's block is not).
    expect(t.trust.fetched).toBeLessThan(s.trust.fetched)
  }, 120_000)
})

describe('rootsync sync killed with SIGKILL at random points', () => {
  it('20 kills, then it completes; never reported complete while partial; re-downloads at most what was in flight', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-kill-'))
    const status = await peer.status()
    const height = status.headNumber
    const [h] = await peer.headers(height, 1)
    const root = toHex(h!.header.stateRoot)
    const total = (await reachable(await replayTo(height))).size
    const args = [
      'sync',
      '--data',
      dir,
      '--bootstrap',
      bootstrap,
      '--height',
      String(height),
      '--root',
      root,
      '--json',
      '--max-batch',
      '16',
      '--in-flight',
      '1',
    ]
    const servedBefore = await served()
    let kills = 0
    let completedEarly = false
    // Seeded delays (reproducible): spread over start-up and the whole sync.
    let seed = 7
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
    for (let trial = 0; trial < 20; trial++) {
      const r = await runCli(args, { killAfterMs: 300 + Math.floor(rand() * 1000) })
      if (r.code === 0) {
        completedEarly = true
        break
      }
      kills++
      expect(r.signal).toBe('SIGKILL')
      // Killed: the data dir claims a completed state only if it is one (the kill may land after the
      // sync finished, while the process shuts down).
      const store = await LevelNodeStore.open(join(dir, 'db'))
      const synced = await readSyncedRoot(store)
      if (synced) {
        expect(toHex(synced.root)).toBe(root)
        await verifyStoredState(store, synced.root)
      }
      await store.close()
      if (synced) {
        completedEarly = true
        break
      }
    }
    if (!completedEarly) {
      const r = await runCli(args)
      expect(r.code).toBe(0)
    }
    expect(kills).toBeGreaterThanOrEqual(completedEarly ? 5 : 20)
    const v = await runCli(['verify', '--data', dir, '--json'])
    expect(v.code).toBe(0)
    expect(JSON.parse(v.stdout).root).toBe(root)
    // Every run asks each of 3 peers for the root once (the probe); each kill can lose at most the
    // requests in flight: 3 peers × 1 request × 16 hashes.
    const extra = (await served()) - servedBefore - total
    expect(extra).toBeLessThanOrEqual((kills + 1) * 3 + kills * 3 * 1 * 16)
  }, 300_000)
})
