/**
 * A real `rootsync serve` process and its clients' connections: a client that is busy for a while
 * (its event loop blocked, as while it verifies a chunk of 512 signed headers — seconds on a loaded
 * machine) keeps its connection and is served on it; clients that are killed are noticed, so the
 * node's open connections (its `rootsync_connections` gauge) go back to what they were.
 *
 * Before the fix, libp2p's connection monitor on the node aborted a client whose ping took over 5 s,
 * so `rootsync recover` lost both peers right after their status replies.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PeerClient } from '../../src/net/client.ts'
import { createClientLibp2p } from '../../src/node/libp2p.ts'
import { ROOT, scriptArgv } from '../helpers/cli.ts'
import { makeDevnetFiles, type NodeProc, startNode, stopAllNodes } from '../helpers/nodes.ts'

let serving: NodeProc

beforeAll(async () => {
  const files = makeDevnetFiles({ seed: 'serve-busy-client', accounts: 50, contracts: 1, slots: 1 })
  serving = await startNode('serve', join(files.dir, 'node'), [
    '--genesis',
    files.genesisFile,
    '--metrics',
    '127.0.0.1:0',
  ])
}, 60_000)

afterAll(() => stopAllNodes())

/** The node's open connections, from its metrics endpoint. */
async function nodeConnections(): Promise<number> {
  const text = await (await fetch(serving.ready.metrics!)).text()
  const line = text.split('\n').find((l) => l.startsWith('rootsync_connections '))
  return Number(line?.split(' ')[1])
}

/** Keeps this process's event loop busy for `ms`, as a long synchronous verification does. */
function busy(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {}
}

/** A client process that asks the node for its status, says so, then idles until killed. */
const CLIENT = join(ROOT, 'test', 'node', 'served-client.ts')

function servedClient(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...scriptArgv(CLIENT), serving.ws], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`client exited with ${code} before it was served`)))
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l === 'served') resolve(child)
    })
  })
}

describe('rootsync serve and its clients', () => {
  it('a client busy for 15 s keeps its connection and is served on it', async () => {
    const node = await createClientLibp2p()
    try {
      const client = new PeerClient(node, multiaddr(serving.ws))
      const before = await client.status()
      const [conn] = node.getConnections()
      // 15 s: libp2p's default monitor (a ping every 10 s, cut off after 5 s) always lands a ping
      // that cannot be answered in time.
      busy(15_000)
      const after = await client.status()
      expect(after.genesisHash).toEqual(before.genesisHash)
      expect(conn!.status).toBe('open')
      expect(node.getConnections().map((c) => c.id)).toEqual([conn!.id])
      expect(await nodeConnections()).toBe(1)
    } finally {
      await node.stop()
    }
  }, 40_000)

  it('clients that are killed are noticed: the node’s open connections go back down', async () => {
    await expect.poll(nodeConnections, { timeout: 10_000 }).toBe(0)
    const clients = await Promise.all([servedClient(), servedClient(), servedClient()])
    try {
      expect(await nodeConnections()).toBe(3)
    } finally {
      for (const c of clients) c.kill('SIGKILL')
    }
    await expect.poll(nodeConnections, { timeout: 10_000 }).toBe(0)
    // And the node still serves a new client.
    const fresh = await servedClient()
    fresh.kill('SIGKILL')
  }, 40_000)
})
