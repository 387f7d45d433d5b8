/**
 * A serving node that lies, for fault tests: it starts a FullNode exactly as `rootsync serve` does
 * and prints the same `ready` / `head` JSON events on stdout (so test/helpers/nodes.ts drives it),
 * but the nodes it serves are corrupted — one byte flipped in every node except the state root of
 * its head, which it serves honestly so it passes a sync's probe and is then asked for the rest.
 *
 * Run: `node --import tsx test/helpers/corrupt-serve.ts --data DIR --genesis FILE`
 * (startNode(name, dir, args, { script: CORRUPT_SERVE })). Every corrupted node it sends is counted
 * in a `corrupted` event on stdout (at most one event per reply).
 *
 * `--mode` picks what it lies about: `nodes` (default), `headers`, `proofs`, `stall` (never answers
 * nodes or proofs), or one lie in each `/rootsync/range/1` range reply (everything else honest):
 * `range-gap` (a leaf dropped from the middle; replies of fewer than 3 leaves stay honest),
 * `range-extra` (a fabricated leaf inserted; from 2 leaves), `range-altered` (one value changed),
 * `range-forged-proof` (one proof node replaced), `range-unavailable` (UNAVAILABLE for every range
 * request: a peer that lacks the root). Range lies are counted as `corrupted` events of kind `range`.
 * `blocks-altered`: every block it serves that carries transactions has its first transaction's
 * value changed (the header and its signatures intact, so only the transactions root betrays it);
 * counted as `corrupted` events of kind `blocks`.
 *
 * Lies for a consistency check (issue 11; consistency-lies.ts), everything else honest. Each lying
 * `/rootsync/root/1` answer is counted as `corrupted` of kind `root`, each lying proof or range reply
 * of kind `proof` / `range`:
 * `root-unsigned` (another header at the height — another state root — with no signatures),
 * `root-forged` (another header signed, at the validators' indexes, by keys that are not theirs),
 * `root-equivocate` (another header signed by every real validator key read from `--keys FILE`, the
 * devnet's keys file: equivocation; an `equivocated` event with the height is printed once),
 * `root-garbage` (a header that does not decode), `liar` (root-forged, and every proof and range reply
 * claims other values: the account leaf's balance raised and the proof rebuilt around it, slots
 * claimed one higher, range values flipped — all well-formed, none verifies), `proof-other-root`
 * (proofs and ranges answered from an older retained state root: valid against it, not the one
 * asked), `proof-other-address` (a proof of another address than asked).
 * `lie-validators`: every `/rootsync/validators/1` reply carries the header's validator set with its
 * first two validators swapped (same members, another hash), everything else honest; counted as
 * `corrupted` events of kind `validators`.
 * `--retain N` sets the retention window (default 128).
 */
import { parseArgs } from 'node:util'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { parseGenesis } from '../../src/core/chain/genesis.ts'
import { ProtocolError, Status } from '../../src/core/protocol/messages.ts'
import { keyAfter, type RangeReply } from '../../src/core/protocol/range.ts'
import type { ServeBackend } from '../../src/net/server.ts'
import { emitEvent, exitOnUncaught, headEvent, readyEvent } from '../../src/node/commands/serve.ts'
import { readJson } from '../../src/node/commands/usage.ts'
import { FullNode } from '../../src/node/full-node.ts'
import { createLogger } from '../../src/node/log.ts'
import { equivocatedRoot, forgedRoot, garbageRoot, lyingProof, unsignedRoot } from './consistency-lies.ts'

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    genesis: { type: 'string' },
    listen: { type: 'string', multiple: true },
    follow: { type: 'string', multiple: true },
    mode: { type: 'string', default: 'nodes' },
    fabricate: { type: 'boolean' },
    keys: { type: 'string' },
    retain: { type: 'string', default: '128' },
  },
})
const RANGE_MODES = [
  'range-gap',
  'range-extra',
  'range-altered',
  'range-forged-proof',
  'range-unavailable',
] as const
const ROOT_MODES = ['root-unsigned', 'root-forged', 'root-equivocate', 'root-garbage', 'liar'] as const
const CHECK_MODES = [...ROOT_MODES, 'proof-other-root', 'proof-other-address'] as const
const MODES = [
  'nodes',
  'headers',
  'proofs',
  'stall',
  'blocks-altered',
  'lie-validators',
  ...RANGE_MODES,
  ...CHECK_MODES,
] as const
const mode = values.mode as (typeof MODES)[number]
if (!MODES.includes(mode)) throw new Error(`unknown --mode ${mode}`)
const rangeMode = (RANGE_MODES as readonly string[]).includes(mode)
/** Modes whose nodes are honest (only what the mode names lies). */
const honestNodes =
  rangeMode || mode === 'lie-validators' || (CHECK_MODES as readonly string[]).includes(mode)
if (!values.data) throw new Error('--data DIR is required')
if (mode === 'root-equivocate' && !values.keys) throw new Error('--mode root-equivocate needs --keys FILE')
const validatorKeys = values.keys
  ? ((await readJson(values.keys, 'keys')) as { validators: string[] }).validators.map((k) => fromHex(k))
  : []
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
const without = <T>(xs: T[], at: number) => xs.filter((_, i) => i !== at)
const inserted = <T>(xs: T[], at: number, x: T) => [...xs.slice(0, at), x, ...xs.slice(at)]

/** The reply with this mode's one lie, or as it was if the reply is too small to carry it. */
function lieAbout(r: RangeReply): RangeReply {
  const n = r.keys.length
  const mid = n >> 1
  switch (mode) {
    case 'range-gap':
      if (n < 3) return r
      return { ...r, keys: without(r.keys, mid), values: without(r.values, mid) }
    case 'range-extra': {
      if (n < 2) return r
      // A key strictly between two real neighbours (the one right after the first of them).
      const key = keyAfter(r.keys[mid - 1]!)!
      return { ...r, keys: inserted(r.keys, mid, key), values: inserted(r.values, mid, r.values[mid - 1]!) }
    }
    case 'range-altered':
      if (n < 1) return r
      return { ...r, values: r.values.map((v, i) => (i === mid ? flip(v) : v)) }
    case 'range-forged-proof': {
      // Every proof node lies on an edge path, so each is needed; the second is an interior node.
      if (r.proof.length === 0) return r
      const at = Math.min(1, r.proof.length - 1)
      return { ...r, proof: r.proof.map((p, i) => (i === at ? flip(p) : p)) }
    }
    default:
      return r
  }
}
let equivocated = false
/** This mode's answer for the header at a height (the honest one for modes that do not lie about it). */
async function lieAboutRoot(b: ServeBackend, height: number) {
  const honest = await b.root(height)
  if (!(ROOT_MODES as readonly string[]).includes(mode)) return honest
  count('root', 1)
  const { chainId } = await b.status()
  switch (mode) {
    case 'root-unsigned':
      return unsignedRoot(honest)
    case 'root-equivocate':
      if (!equivocated) emitEvent({ event: 'equivocated', height })
      equivocated = true
      return equivocatedRoot(chainId, honest, validatorKeys)
    case 'root-garbage':
      return garbageRoot(honest)
    default: // root-forged, liar
      return forgedRoot(chainId, honest, Math.max(1, honest.signatures.length))
  }
}

/**
 * A retained state root older than `root` (and different from it), or `root` itself if there is none
 * (or `root` is not among the recent ones: the honest backend then answers UNAVAILABLE).
 */
async function olderRoot(b: ServeBackend, root: Uint8Array): Promise<Uint8Array> {
  const { headNumber, oldestStateNumber } = await b.status()
  // Newest first, in chunks: the height of `root`, then the first older height with another root.
  let found = false
  for (let end = headNumber; end >= oldestStateNumber; end -= 256) {
    const start = Math.max(oldestStateNumber, end - 255)
    const hs = await b.headers(start, end - start + 1)
    for (let i = hs.length - 1; i >= 0; i--) {
      const r = hs[i]!.header.stateRoot
      if (found && toHex(r) !== toHex(root)) return r
      if (toHex(r) === toHex(root)) found = true
    }
  }
  return root
}

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
    if (mode === 'headers' || mode === 'blocks-altered' || honestNodes) return out
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
  async blocks(start, n) {
    const bs = await b.blocks(start, n)
    if (mode !== 'blocks-altered') return bs
    const lied = bs.map((blk) => {
      const [first, ...rest] = blk.transactions
      if (!first) return blk
      return { ...blk, transactions: [{ ...first, value: first.value + 1n }, ...rest] }
    })
    count('blocks', lied.filter((x, i) => x !== bs[i]).length)
    return lied
  },
  root: (height) => lieAboutRoot(b, height),
  async validators(height) {
    const honest = await b.validators(height)
    if (mode !== 'lie-validators' || honest.validators.length < 2) return honest
    count('validators', 1)
    const [first, second, ...rest] = honest.validators
    return { ...honest, validators: [second!, first!, ...rest] }
  },
  async proof(req) {
    if (mode === 'stall') return never()
    if (mode === 'proof-other-root') {
      const older = await olderRoot(b, req.stateRoot)
      count('proof', older === req.stateRoot ? 0 : 1)
      return b.proof({ ...req, stateRoot: older })
    }
    if (mode === 'proof-other-address') {
      const other = req.address.slice()
      other[19]! ^= 0x01
      count('proof', 1)
      return b.proof({ ...req, address: other })
    }
    const p = await b.proof(req)
    if (mode === 'liar') {
      count('proof', 1)
      return lyingProof(p)
    }
    if (mode !== 'proofs') return p
    count('proofs', p.accountProof.length)
    return { ...p, accountProof: p.accountProof.map(flip) }
  },
  async range(req, maxLeaves) {
    if (mode === 'range-unavailable') {
      count('range', 1)
      throw new ProtocolError(Status.UNAVAILABLE, `state root ${toHex(req.root)} is not kept here`)
    }
    if (mode === 'proof-other-root') {
      const older = await olderRoot(b, req.root)
      count('range', older === req.root ? 0 : 1)
      return b.range({ ...req, root: older }, maxLeaves)
    }
    const honest = await b.range(req, maxLeaves)
    if (mode === 'liar') {
      count('range', honest.values.length ? 1 : 0)
      return { ...honest, values: honest.values.map(flip) }
    }
    const lied = lieAbout(honest)
    count('range', lied === honest ? 0 : 1)
    return lied
  },
})
const node = await FullNode.start({
  dataDir: values.data,
  genesis: values.genesis ? parseGenesis(await readJson(values.genesis, 'genesis')) : undefined,
  listen: values.listen,
  follow: values.follow,
  retain: Number(values.retain),
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
