/**
 * A serving node that lies, for fault tests: it starts a FullNode exactly as `rootsync serve` does
 * and prints the same `ready` / `head` JSON events on stdout (so test/helpers/nodes.ts drives it),
 * but the nodes it serves are corrupted — one byte flipped in every node except the state root of
 * its head, which it serves honestly so it passes a sync's probe and is then asked for the rest.
 *
 * Run: `node --import tsx test/helpers/corrupt-serve.ts --data DIR --genesis FILE`
 * (startNode(name, dir, args, { script: CORRUPT_SERVE })). Every corrupted node it sends is counted
 * in a `corrupted` event on stdout (at most one event per reply).
 */
import { parseArgs } from 'node:util'
import { toHex } from '../../src/core/bytes.ts'
import { parseGenesis } from '../../src/core/chain/genesis.ts'
import type { ServeBackend } from '../../src/net/server.ts'
import { emitEvent, exitOnUncaught, headEvent, readyEvent } from '../../src/node/commands/serve.ts'
import { readJson } from '../../src/node/commands/usage.ts'
import { FullNode } from '../../src/node/full-node.ts'
import { createLogger } from '../../src/node/log.ts'

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    genesis: { type: 'string' },
    listen: { type: 'string', multiple: true },
  },
})
if (!values.data) throw new Error('--data DIR is required')
const log = createLogger({ node: values.data, corrupt: true })
exitOnUncaught(log)
let corrupted = 0
const corrupt = (b: ServeBackend): ServeBackend => ({
  ...b,
  async nodes(hashes, softBytes) {
    const head = await b.status()
    const out = await b.nodes(hashes, softBytes)
    let n = 0
    const lied = out.map((v, i) => {
      if (v.length === 0 || toHex(hashes[i]!) === toHex(head.headStateRoot)) return v
      const c = new Uint8Array(v) // a copy (a Buffer's slice() would be a view)
      c[c.length >> 1]! ^= 0x40
      n++
      return c
    })
    if (n) emitEvent({ event: 'corrupted', nodes: n, total: (corrupted += n) })
    return lied
  },
})
const node = await FullNode.start({
  dataDir: values.data,
  genesis: values.genesis ? parseGenesis(await readJson(values.genesis, 'genesis')) : undefined,
  listen: values.listen,
  retain: 128,
  log,
  wrapBackend: corrupt,
  onHead: (h) => emitEvent(headEvent(h)),
})
emitEvent(await readyEvent(node))
const stop = () =>
  void node.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  )
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
