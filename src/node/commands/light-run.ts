/**
 * What `rootsync sync` and `rootsync recover` both set up: the bootstrap file (trust root and peers),
 * the LevelDB store under --data, a libp2p client node, and a wire client per peer address.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { type BootstrapConfig, pickAddr } from '../../core/light/config.ts'
import type { LightPeer } from '../../core/light/peers.ts'
import { PeerClient } from '../../net/client.ts'
import { LevelNodeStore } from '../../store/level-store.ts'
import { createClientLibp2p } from '../libp2p.ts'
import { readBootstrap, UsageError } from './usage.ts'

export interface LightRun {
  config: BootstrapConfig
  /** The bootstrap file's path (its directory may carry genesis.json). */
  bootstrapFile: string
  store: LevelNodeStore
  peers: LightPeer[]
  close(): Promise<void>
}

const shortId = (addr: string) => addr.split('/p2p/').pop() ?? addr

export async function openLightRun(v: {
  data?: string
  bootstrap?: string
  peer?: string[]
}): Promise<LightRun> {
  if (!v.data) throw new UsageError('--data DIR is required')
  const bootstrapFile = v.bootstrap ?? resolve('.devnet/bootstrap.json')
  if (!existsSync(bootstrapFile))
    throw new UsageError(
      `no bootstrap file at ${bootstrapFile}: pass --bootstrap FILE (written by rootsync devnet)`,
    )
  const config = await readBootstrap(bootstrapFile)
  const addrs = v.peer?.length
    ? v.peer
    : config.peers.map((p) => pickAddr(p, 'websocket')).filter((a): a is string => a !== null)
  if (!addrs.length) throw new UsageError('no peers: pass --peer MULTIADDR')
  const store = await LevelNodeStore.open(`${v.data}/db`)
  const node = await createClientLibp2p()
  // The driver bounds every request by its own deadline (through the clock); the transport's is a
  // backstop above it.
  const clients = addrs.map((a) => new PeerClient(node, multiaddr(a), { timeoutMs: 15_000 }))
  return {
    config,
    bootstrapFile,
    store,
    peers: clients.map((c) => ({ id: shortId(c.id), wire: c })),
    async close() {
      for (const c of clients) c.close()
      await node.stop()
      await store.close()
    },
  }
}
