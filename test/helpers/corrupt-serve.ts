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
    follow: { type: 'string', multiple: true },
    mode: { type: 'string', default: 'nodes' },
    fabricate: { type: 'boolean' },
  },
})
const mode = values.mode as 'nodes' | 'headers' | 'proofs' | 'stall'
if (!['nodes', 'headers', 'proofs', 'stall'].includes(mode)) throw new Error(`unknown --mode ${mode}`)
if (!values.data) throw new Error('--data DIR is required')
const log = createLogger({ node: values.data, corrupt: true })
exitOnUncaught(log)
let corrupted = 0
const count = (kind: string, n: number) => {
  if (n) emitEvent({ event: 'corrupted', kind, nodes: n, total: (corrupted += n) })
}
const flip = (v: Uint8Array) => {
  const c = new Uint8Array(v) // a copy (a Buffer's slice() would be a view)
  c[c.length >> 1]! ^= 0x40
  return c
}
const never = <T>() => new Promise<T>(() => {})
const corrupt = (b: ServeBackend): ServeBackend => ({
  ...b,
  async status() {
    const s = await b.status()
    return mode === 'headers' ? { ...s, headNumber: s.headNumber + 5 } : s
  },
  async headers(start, n) {
    const hs = await b.headers(start, n)
    if (mode !== 'headers') return hs
    count('headers', hs.length)
    return hs.map((h) => ({ ...h, header: { ...h.header, timestamp: h.header.timestamp + 1 } }))
  },
  async nodes(hashes, softBytes) {
    if (mode === 'stall') return never()
    const out = await b.nodes(hashes, softBytes)
    if (mode === 'headers') return out
    const head = mode === 'nodes' ? toHex((await b.status()).headStateRoot) : null
    let n = 0
    const lied = out.map((v, i) => {
      if (v.length === 0 && values.fabricate) {
        n++
        return hashes[i]!.slice().reverse()
      }
      if (v.length === 0 || toHex(hashes[i]!) === head) return v
      n++
      return flip(v)
    })
    count('nodes', n)
    return lied
  },
  async proof(req) {
    if (mode === 'stall') return never()
    const p = await b.proof(req)
    if (mode !== 'proofs') return p
    count('proofs', p.accountProof.length)
    return { ...p, accountProof: p.accountProof.map(flip) }
  },
})
const node = await FullNode.start({
  dataDir: values.data,
  genesis: values.genesis ? parseGenesis(await readJson(values.genesis, 'genesis')) : undefined,
  listen: values.listen,
  follow: values.follow,
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
