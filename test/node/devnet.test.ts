/**
 * `rootsync devnet` and `npm start` as a user runs them: real processes, real ports.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { verifyAccountProof } from '../../src/core/account-proof.ts'
import { fromHexExact, toHex } from '../../src/core/bytes.ts'
import { parseGenesis } from '../../src/core/chain/genesis.ts'
import {
  type LightBlockReply,
  lightBlockOf,
  verifyHeaderSignatures,
} from '../../src/core/chain/validators.ts'
import { checkpointOf, parseBootstrap } from '../../src/core/light/config.ts'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { ether } from '../../src/ui/format.ts'
import { launchBrowser } from '../helpers/browser.ts'
import { BIN, ROOT } from '../helpers/cli.ts'
import { verifySequentially } from '../helpers/devnet-chain.ts'
import { makeDevnetFiles } from '../helpers/nodes.ts'

interface Run {
  child: ChildProcess
  out: () => string
  waitFor: (re: RegExp, ms: number) => Promise<RegExpMatchArray>
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

const runs: Run[] = []

/** Starts a command in its own process group, as a terminal would (Ctrl-C reaches the group). */
function run(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const listeners: (() => void)[] = []
  const onData = (d: Buffer) => {
    out += d
    for (const l of listeners.splice(0)) l()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const r: Run = {
    child,
    out: () => out,
    waitFor: (re, ms) =>
      new Promise((res, rej) => {
        const t = setTimeout(
          () => rej(new Error(`no ${re} within ${ms} ms; output:\n${out.slice(-3000)}`)),
          ms,
        )
        const check = () => {
          const m = out.match(re)
          if (m) {
            clearTimeout(t)
            res(m)
          } else listeners.push(check)
        }
        check()
      }),
    stop: (signal = 'SIGINT') =>
      new Promise((res) => {
        if (child.exitCode !== null) return res(child.exitCode)
        child.once('exit', (code) => res(code))
        process.kill(-child.pid!, signal)
      }),
  }
  runs.push(r)
  return r
}

afterEach(async () => {
  for (const r of runs.splice(0))
    if (r.child.exitCode === null && r.child.signalCode === null) process.kill(-r.child.pid!, 'SIGKILL')
})

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => res(port))
    })
  })
}

function portAcceptsConnections(addr: string): Promise<boolean> {
  const m = /\/ip4\/([\d.]+)\/tcp\/(\d+)\/ws/.exec(addr)!
  return new Promise((res) => {
    const s = new Socket()
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
    s.connect(Number(m[2]), m[1]!)
  })
}

describe('rootsync devnet', () => {
  it('starts 3 nodes, writes bootstrap.json, stops cleanly on Ctrl-C and resumes the same chain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-devnet-'))
    const args = [
      BIN,
      'devnet',
      '--data',
      dir,
      '--accounts',
      '3000',
      '--contracts',
      '10',
      '--slots',
      '5',
      '--block-time',
      '500',
    ]
    const first = run(args)
    await first.waitFor(/Ctrl-C stops/, 60_000)
    const boot = JSON.parse(readFileSync(join(dir, 'bootstrap.json'), 'utf8'))
    expect(boot.peers.map((p: { name: string }) => p.name)).toEqual(['node-0', 'node-1', 'node-2'])
    expect(boot.checkpoint.hash).toBe(boot.genesisHash)
    for (const p of boot.peers) expect(first.out()).toContain(p.addrs[0])
    const [, reached] = await first.waitFor(/\[node-2\] head\s+(3)\b/, 20_000)
    expect(reached).toBe('3')
    expect(await first.stop('SIGINT')).toBe(0)
    // The last head each node reported before it stopped.
    const lastHead = (out: string, name: string) =>
      Math.max(
        0,
        ...[...out.matchAll(new RegExp(`\\[${name}\\] head\\s+(\\d+)`, 'g'))].map((m) => Number(m[1])),
      )
    const stoppedAt = ['node-0', 'node-1', 'node-2'].map((n) => lastHead(first.out(), n))
    // Every node process is gone: their ports no longer accept connections.
    for (const p of boot.peers) expect(await portAcceptsConnections(p.addrs[0])).toBe(false)

    const second = run(args)
    await second.waitFor(/resuming the devnet/, 10_000)
    await second.waitFor(/Ctrl-C stops/, 60_000)
    const again = JSON.parse(readFileSync(join(dir, 'bootstrap.json'), 'utf8'))
    expect(again.genesisHash).toBe(boot.genesisHash)
    // Each node starts from the head it had stored, not from genesis.
    const heads = [...second.out().matchAll(/(node-\d) \S+ at head (\d+)/g)].map(
      (m) => [m[1], Number(m[2])] as const,
    )
    expect(heads.map(([n]) => n).sort()).toEqual(['node-0', 'node-1', 'node-2'])
    for (const [n, h] of heads) expect(h).toBeGreaterThanOrEqual(stoppedAt[Number(n!.slice(5))]!)
    expect(stoppedAt[2]).toBeGreaterThanOrEqual(3)
    expect(await second.stop('SIGINT')).toBe(0)
  }, 180_000)
})

describe('rootsync devnet --rotate-every', () => {
  const devnetArgs = (dir: string, extra: string[] = []) => [
    BIN,
    'devnet',
    '--data',
    dir,
    '--accounts',
    '1000',
    '--contracts',
    '4',
    '--slots',
    '4',
    '--peers',
    '1',
    '--block-time',
    '300',
    ...extra,
  ]

  it('rotates a validator every 2 blocks (served light blocks change sets); resuming with another period is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-devnet-rot-'))
    const startedSec = Math.floor(Date.now() / 1000)
    const first = run(devnetArgs(dir, ['--rotate-every', '2']))
    await first.waitFor(/Ctrl-C stops/, 60_000)
    await first.waitFor(/\[node-0\] head\s+7\b/, 60_000)
    const keys = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))
    expect(keys.rotateEvery).toBe(2)
    const genesis = parseGenesis(JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8')))
    expect(genesis.timestamp).toBeGreaterThanOrEqual(startedSec)
    const boot = JSON.parse(readFileSync(join(dir, 'bootstrap.json'), 'utf8'))
    expect(boot.checkpoint).toEqual({ number: 0, hash: boot.genesisHash })
    const replies = await lightBlocksFrom(
      boot.peers[0].addrs.find((a: string) => a.includes('/ws/')),
      7,
    )
    const cp = checkpointOf(parseBootstrap(boot))
    const blocks = replies.map((r) => lightBlockOf(cp.chainId, r))
    expect(toHex(blocks[0]!.hash)).toBe(boot.checkpoint.hash)
    expect(blocks[0]!.validators.map(toHex)).toEqual(boot.validators)
    // Blocks 2, 4 and 6 carry a change: blocks 1-2, 3-4, 5-6 and 7 are signed by four different sets.
    expect(new Set(blocks.slice(1).map((b) => toHex(b.header.validatorsHash))).size).toBe(4)
    expect(verifySequentially(cp.chainId, blocks[0]!.header, replies.slice(1)).header.number).toBe(7)
    expect(await first.stop('SIGINT')).toBe(0)

    const other = run(devnetArgs(dir, ['--rotate-every', '3']))
    expect(await new Promise((res) => other.child.once('exit', res))).toBe(2)
    expect(other.out()).toContain(`the devnet in ${dir} rotates a validator every 2 blocks; remove ${dir}`)
  }, 180_000)

  it("a resumed devnet whose genesis is over a day old hands out its head at start as the checkpoint, with that head's own set", async () => {
    // A devnet created two days ago (its files as `rootsync devnet` writes them), rotating every 2.
    const files = makeDevnetFiles({
      seed: 'devnet-old',
      accounts: 1000,
      contracts: 4,
      slots: 4,
      timestamp: Math.floor(Date.now() / 1000) - 2 * 86_400,
      rotateEvery: 2,
    })
    const first = run(devnetArgs(files.dir))
    await first.waitFor(/\[node-0\] head\s+5\b/, 90_000)
    expect(await first.stop('SIGINT')).toBe(0)

    const second = run(devnetArgs(files.dir))
    await second.waitFor(/Ctrl-C stops/, 60_000)
    const boot = JSON.parse(readFileSync(join(files.dir, 'bootstrap.json'), 'utf8'))
    expect(boot.checkpoint.number).toBeGreaterThanOrEqual(5)
    expect(boot.genesisHash).not.toBe(boot.checkpoint.hash)
    const cp = checkpointOf(parseBootstrap(boot))
    const [reply] = await lightBlocksFrom(
      boot.peers[0].addrs.find((a: string) => a.includes('/ws/')),
      cp.number,
      cp.number,
    )
    const block = lightBlockOf(cp.chainId, reply!)
    expect(toHex(block.hash)).toBe(boot.checkpoint.hash)
    expect(block.validators.map(toHex)).toEqual(boot.validators)
    // By then the set has rotated: the checkpoint's set is not the genesis set.
    expect(boot.validators).not.toEqual(files.genesis.validators.map(toHex))
    verifyHeaderSignatures(cp.chainId, block.signed, cp.validators)
    expect(await second.stop('SIGINT')).toBe(0)
  }, 240_000)
})

describe('npm start', () => {
  it('prints a URL and the devnet peers; the app there syncs the devnet with a moving progress bar and answers a lookup by proof before the sync completes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rootsync-start-'))
    const port = await freePort()
    const started = Date.now()
    const r = run(['--import', 'tsx', 'scripts/start.ts'], { DEVNET_DIR: dir, PORT: String(port) })
    // The time to the URL is a speed goal (measured in docs/benchmarks.md), not asserted here: a
    // loaded machine may take longer, and a test never asserts wall-clock time.
    const [, url] = await r.waitFor(/open (http:\/\/127\.0\.0\.1:\d+\/)/, 150_000)
    console.log(`npm start printed its URL after ${Date.now() - started} ms`)
    expect(r.out()).toMatch(/node-0 12D3KooW\S+ at head/)
    expect(r.out()).toMatch(/\/ip4\/127\.0\.0\.1\/tcp\/\d+\/ws\/p2p\/12D3KooW/)
    const html = await (await fetch(url!)).text()
    expect(html).toContain('<div id="app">')
    const boot = await (await fetch(`${url}bootstrap.json`)).json()
    expect(boot.peers).toHaveLength(3)
    expect(boot.peers[0].addrs.some((a: string) => a.includes('/ws/'))).toBe(true)

    // Opened in Chromium, the app syncs the devnet's state with a moving progress bar, and an
    // account in the URL gets a verified balance (by proof) before the sync completes.
    const genesis = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8'))
    const address = Object.keys(genesis.alloc)[7]!
    const browser = await launchBrowser()
    try {
      const page = await browser.newPage()
      await page.goto(`${url}?address=0x${address.replace(/^0x/, '')}`)
      const bar = page.getByRole('progressbar', { name: 'State sync' })
      const seen = new Set<string>()
      let answeredBeforeSynced: boolean | null = null
      let answer: { balance: string; stateRoot: string } | null = null
      await expect
        .poll(
          async () => {
            const synced = await page.getByTestId('synced-root').count()
            if (!synced) seen.add((await bar.getAttribute('aria-valuenow')) ?? '')
            if (answeredBeforeSynced === null && (await page.getByTestId('balance').count())) {
              answeredBeforeSynced = synced === 0
              answer = {
                balance: (await page.getByTestId('balance').textContent()) ?? '',
                stateRoot: (await page.locator('[data-testid="proof-block"] + code').textContent()) ?? '',
              }
            }
            return synced
          },
          { timeout: 90_000, interval: 25 },
        )
        .toBe(1)
      expect(answeredBeforeSynced).toBe(true)
      expect(await page.getByTestId('source').textContent()).toBe('proof')
      // The devnet keeps producing blocks that move funds: the balance shown must be the one the
      // state at the answer's header holds, which a serving node proves for that state root.
      expect(answer).not.toBeNull()
      const stateRoot = fromHexExact(answer!.stateRoot, 32, 'state root')
      const proven = await provenBalance(
        boot.peers[0].addrs.find((a: string) => a.includes('/ws/')),
        stateRoot,
        address,
      )
      expect(answer!.balance).toBe(ether(proven.toString()))
      expect([...seen].filter((v) => v !== '0' && v !== '100').length).toBeGreaterThan(1)
      // The synced root is one the devnet's nodes reached, at the height shown.
      const root = await page.getByTestId('synced-root').textContent()
      const height = Number(await page.getByTestId('synced-height').textContent())
      const heads = readFileSync(join(dir, 'node-0.log'), 'utf8')
      expect(heads).toMatch(new RegExp(`"number":${height},[^\n]*"stateRoot":"${root}"`))
    } finally {
      await browser.close()
    }
    expect(await r.stop('SIGINT')).toBe(0)
  }, 180_000)
})

/** An account's balance in the state under `stateRoot`, proven by the serving node at `addr`. */
async function provenBalance(addr: string, stateRoot: Uint8Array, address: string): Promise<bigint> {
  const node = await createClientLibp2p()
  const client = new PeerClient(node, multiaddr(addr), { timeoutMs: 10_000 })
  try {
    const proof = await client.proof({ stateRoot, address: fromHexExact(address, 20, 'address'), slots: [] })
    const v = verifyAccountProof(stateRoot, proof)
    return v.account?.balance ?? 0n
  } finally {
    client.close()
    await node.stop()
  }
}

/** `/rootsync/validators/1` replies for heights from…to from the serving node at `addr`. */
async function lightBlocksFrom(addr: string, to: number, from = 0): Promise<LightBlockReply[]> {
  const node = await createClientLibp2p()
  const client = new PeerClient(node, multiaddr(addr), { timeoutMs: 20_000 })
  try {
    const out: LightBlockReply[] = []
    for (let h = from; h <= to; h++) out.push(await client.validators(h))
    return out
  } finally {
    client.close()
    await node.stop()
  }
}
