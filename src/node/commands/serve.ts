/**
 * `rootsync serve`: a standalone serving node. Human-facing output is the structured log on stderr;
 * stdout carries one JSON event per line (`ready`, `head`) for programs that drive it (the devnet).
 */
import { parseArgs } from 'node:util'
import { toHex } from '../../core/bytes.ts'
import { devnetProducer, parseKeysFile } from '../../core/chain/devnet.ts'
import { type Genesis, parseGenesis } from '../../core/chain/genesis.ts'
import { type Header, headerHash } from '../../core/chain/header.ts'
import { FullNode } from '../full-node.ts'
import { createLogger, type Logger } from '../log.ts'
import { intOption, readJson, UsageError } from './usage.ts'

export const SERVE_USAGE = `rootsync serve --data DIR [--genesis FILE] [--listen MULTIADDR...] [--follow MULTIADDR...]
               [--produce KEYS.json --block-time MS --txs N] [--retain N] [--metrics HOST:PORT] [--debug]`

export async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      genesis: { type: 'string' },
      listen: { type: 'string', multiple: true },
      follow: { type: 'string', multiple: true },
      produce: { type: 'string' },
      'block-time': { type: 'string' },
      txs: { type: 'string' },
      retain: { type: 'string' },
      metrics: { type: 'string' },
      debug: { type: 'boolean' },
    },
  })
  if (!values.data) throw new UsageError('--data DIR is required')
  const genesis: Genesis | undefined = values.genesis
    ? parseGenesis(await readJson(values.genesis, 'genesis'))
    : undefined
  let produce: NonNullable<Parameters<typeof FullNode.start>[0]['produce']> | undefined
  if (values.produce) {
    if (!genesis)
      throw new UsageError(
        '--produce needs --genesis (the producer generates transactions for its contracts)',
      )
    const k = parseKeysFile(await readJson(values.produce, 'keys file'), values.produce)
    produce = {
      // The validator set rotates by the devnet's rule, from the seed and period in the keys file.
      producer: devnetProducer(genesis, k.keys, intOption(values.txs, 'txs', 20), {
        seed: k.seed,
        every: k.rotateEvery,
      }),
      blockTimeMs: intOption(values['block-time'], 'block-time', 2000),
    }
  }
  let metrics: { host: string; port: number } | undefined
  if (values.metrics) {
    const m = /^(.+):(\d+)$/.exec(values.metrics)
    if (!m) throw new UsageError(`--metrics must be HOST:PORT, got '${values.metrics}'`)
    metrics = { host: m[1]!, port: Number(m[2]) }
  }
  const log = createLogger({ node: values.data }, { debug: values.debug })
  exitOnUncaught(log)
  const node = await FullNode.start({
    dataDir: values.data,
    genesis,
    listen: values.listen,
    follow: values.follow,
    produce,
    retain: intOption(values.retain, 'retain', 128),
    metrics,
    log,
    onHead: (h) => emitEvent(headEvent(h)),
  })
  const ready = await readyEvent(node)
  emitEvent(ready)
  log('info', 'serving', { peerId: ready.peerId, addrs: ready.addrs, head: ready.head.number })
  await new Promise<void>((resolve) => {
    const stop = () => {
      log('info', 'stopping')
      void node.stop().then(resolve, resolve)
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}

/** One JSON event per line on stdout, for programs that drive a node (the devnet, tests). */
export const emitEvent = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`)

export const headEvent = (h: Header) => ({
  event: 'head' as const,
  number: h.number,
  hash: toHex(headerHash(h)),
  stateRoot: toHex(h.stateRoot),
})

/**
 * The `ready` event: who the node is, where it listens, and its head at start with the validator set
 * that signs that head (what a bootstrap.json names when it uses the head as its checkpoint).
 */
export async function readyEvent(node: FullNode) {
  const signed = await node.chain.head()
  const { event: _, ...head } = headEvent(signed.header)
  const validators = await node.chain.validatorSet(signed.header.validatorsHash)
  return {
    event: 'ready' as const,
    peerId: node.libp2p.peerId.toString(),
    addrs: node.multiaddrs,
    metrics: node.metricsUrl,
    chainId: node.chain.info.chainId,
    genesisHash: toHex(node.chain.info.genesisHash),
    head: { ...head, validators: validators.map(toHex) },
  }
}

/**
 * node-datachannel sometimes fails to bind the WebRTC-direct UDP mux (seen right after a restart)
 * and throws outside any promise. The node can still serve over WebSockets, so say so and go on;
 * anything else uncaught ends the process as usual.
 */
export function exitOnUncaught(log: Logger): void {
  process.on('uncaughtException', (e) => {
    if (/ICE UDP mux/i.test(e.message)) {
      log('warn', 'WebRTC-direct listener failed; serving over WebSockets only', { error: e.message })
      return
    }
    log('error', 'uncaught exception', { error: e.stack ?? e.message })
    process.exit(1)
  })
}
