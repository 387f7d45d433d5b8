/**
 * `rootsync sync` over real libp2p against separate processes: one honest `rootsync serve` node
 * listed LAST, after peers that tamper with headers, nodes and proofs on the wire and one that
 * stalls. The sync completes from the honest node and verifies; every liar is named in the `--json`
 * summary as bad or banned; the staller is counted under timeouts; and the liars cost at most ~2 s
 * over the same sync with the honest node alone (both measured here, back to back).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyAccountProof } from '../../src/core/account-proof.ts'
import { toHex } from '../../src/core/bytes.ts'
import { genesisHeader, genesisStateRoot } from '../../src/core/chain/genesis.ts'
import { headerHash } from '../../src/core/chain/header.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { runCli } from '../helpers/cli.ts'
import {
  CORRUPT_SERVE,
  makeDevnetFiles,
  type NodeProc,
  nodesBootstrap,
  startNode,
  stopAllNodes,
} from '../helpers/nodes.ts'

let files: ReturnType<typeof makeDevnetFiles>
let honest: NodeProc
let liars: Record<'headers' | 'nodes' | 'proofs' | 'stall', NodeProc>
let genesisHash: string

beforeAll(async () => {
  files = makeDevnetFiles({ accounts: 5000, contracts: 20, slots: 20, seed: 'liars' })
  const common = ['--genesis', files.genesisFile, '--retain', '5000']
  honest = await startNode('honest', join(files.dir, 'honest'), [
    ...common,
    '--produce',
    files.keysFile,
    '--block-time',
    '500',
  ])
  const modes = ['headers', 'nodes', 'proofs', 'stall'] as const
  // One after another: five processes building the genesis state at once overload a small machine.
  const started: NodeProc[] = []
  for (const m of modes)
    started.push(
      await startNode(
        `liar-${m}`,
        join(files.dir, `liar-${m}`),
        ['--genesis', files.genesisFile, '--follow', honest.ws, '--mode', m, '--fabricate'],
        { script: CORRUPT_SERVE },
      ),
    )
  liars = Object.fromEntries(modes.map((m, i) => [m, started[i]!])) as typeof liars
  genesisHash = toHex(headerHash(genesisHeader(files.genesis, genesisStateRoot(files.genesis))))
  await Promise.all([honest, ...started].map((n) => n.waitHead(3, 60_000)))
}, 300_000)

afterAll(() => stopAllNodes())

function bootstrapFor(nodes: NodeProc[], name: string): string {
  const file = join(files.dir, `${name}.json`)
  writeFileSync(file, JSON.stringify(nodesBootstrap(files, genesisHash, nodes)))
  return file
}

async function timedSync(bootstrap: string) {
  const data = mkdtempSync(join(tmpdir(), 'rootsync-liars-'))
  const t0 = performance.now()
  const r = await runCli(['sync', '--data', data, '--bootstrap', bootstrap, '--latest', '--json'], {
    timeoutMs: 120_000,
  })
  const ms = performance.now() - t0
  return { r, ms, data }
}

describe('rootsync sync with lying peers listed before the honest one', () => {
  it('the proof liar really lies on the wire (its proofs do not verify)', async () => {
    const node = await createClientLibp2p()
    const c = new PeerClient(node, multiaddr(liars.proofs.ws))
    try {
      const s = await c.status()
      const [address] = files.genesis.alloc[3]!
      const p = await c.proof({ stateRoot: s.headStateRoot, address, slots: [] })
      expect(() => verifyAccountProof(s.headStateRoot, p)).toThrow()
    } finally {
      c.close()
      await node.stop()
    }
  }, 60_000)

  it('completes and verifies; names every liar as bad or banned; the staller under timeouts; ≤ ~2 s slower', async () => {
    const alone = await timedSync(bootstrapFor([honest], 'honest-only'))
    expect(alone.r.code, alone.r.stderr).toBe(0)

    const all = [liars.headers, liars.nodes, liars.proofs, liars.stall, honest]
    const mixed = await timedSync(bootstrapFor(all, 'liars-first'))
    expect(mixed.r.code, mixed.r.stderr).toBe(0)
    const s = JSON.parse(mixed.r.stdout) as {
      seconds: number
      root: string
      height: number
      peers: {
        peer: string
        outcome: string
        reason: string | null
        bad: number
        timeouts: number
        banned: string | null
        delivered: number
      }[]
    }
    const v = await runCli(['verify', '--data', mixed.data, '--json'])
    expect(v.code, v.stderr).toBe(0)
    expect(JSON.parse(v.stdout).root).toBe(s.root)

    const row = (n: NodeProc) => s.peers.find((p) => p.peer === n.ready.peerId)
    for (const n of all) expect(row(n), `${n.name} in the summary`).toBeDefined()
    expect(row(honest)!.outcome).toBe('useful')
    for (const liar of [liars.headers, liars.nodes, liars.proofs])
      expect(['bad', 'banned'], `${liar.name}: ${JSON.stringify(row(liar))}`).toContain(row(liar)!.outcome)
    // The header liar claims a head 5 blocks above its own: it cannot serve it, and is banned for it.
    expect(row(liars.headers)!.banned).toMatch(/claimed head \d+ but has no header/)
    // Nothing a liar sent was used: every node delivered came from the honest node.
    for (const liar of [liars.headers, liars.nodes, liars.proofs, liars.stall])
      expect(row(liar)!.delivered).toBe(0)
    expect(row(liars.stall)!.timeouts, JSON.stringify(row(liars.stall))).toBeGreaterThanOrEqual(1)

    // The one wall-clock comparison the issue asks for: liars and a staller cost at most ~2 s.
    console.info(
      `liars: alone ${Math.round(alone.ms)} ms (run ${JSON.parse(alone.r.stdout).seconds} s), with liars ${Math.round(mixed.ms)} ms (run ${s.seconds} s)`,
    )
    expect(
      mixed.ms,
      `alone ${Math.round(alone.ms)} ms (run ${JSON.parse(alone.r.stdout).seconds} s), with liars ${Math.round(mixed.ms)} ms (run ${s.seconds} s): ${JSON.stringify(s.peers)}`,
    ).toBeLessThanOrEqual(alone.ms + 2500)
  }, 240_000)
})
