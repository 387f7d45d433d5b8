/**
 * bench:headers — what verifying a chunk of signed headers costs (the light client verifies 512 per
 * request, synchronously, before skipping verification): each header linked and its quorum checked
 * with `verifyHeaderSignatures` (checking stops at the quorum), against a baseline measured in the
 * same run: recovering EVERY signature of the same headers (what it cost before stopping at the
 * quorum). Block replay and full nodes still check headers one by one; light clients now skip
 * (bench:coldstart).
 *
 * Flags: --headers N (512), --validators V (4), --runs R (3).
 */

import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { headerHash, headerSigningHash, verifyLink } from '../src/core/chain/header.ts'
import { recoverAddress } from '../src/core/chain/keys.ts'
import { verifyHeaderSignatures } from '../src/core/chain/validators.ts'
import { useWasmKeccak } from '../src/core/hash.ts'
import { makeDevnetChain } from '../test/helpers/devnet-chain.ts'
import { fmtMs, note, printTable } from './lib.ts'

const { values } = parseArgs({
  options: {
    headers: { type: 'string', default: '512' },
    validators: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
  },
})
const n = Number(values.headers)
const runs = Number(values.runs)
await useWasmKeccak()
note(`producing ${n} signed headers (${values.validators} validators, empty blocks)`)
const chain = await makeDevnetChain(
  { seed: 'bench-headers', accounts: 10, contracts: 0, slots: 0, validators: Number(values.validators) },
  n,
  0,
)
const { chainId, validators } = chain.genesis
const genesis = chain.headers[0]!
const trusted = { header: genesis.header, hash: headerHash(genesis.header) }
const signed = chain.headers.slice(1)
const sigs = signed.reduce((a, h) => a + h.signatures.length, 0)
const quorum = Math.ceil((validators.length * 2) / 3)

const rows: string[][] = []
const load0 = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')
for (let r = 0; r < runs; r++) {
  let t = performance.now()
  for (const h of signed) {
    const digest = headerSigningHash(chainId, headerHash(h.header))
    for (const s of h.signatures) recoverAddress(digest, s.signature)
  }
  const all = performance.now() - t
  rows.push([`every signature (baseline) ${r + 1}`, String(sigs), fmtMs(all), fmtMs(all / n)])
  t = performance.now()
  let prev = trusted.header
  for (const s of signed) {
    verifyLink(prev, s.header)
    verifyHeaderSignatures(chainId, s, validators)
    prev = s.header
  }
  const ours = performance.now() - t
  rows.push([`link + quorum ${r + 1}`, String(quorum * n), fmtMs(ours), fmtMs(ours / n)])
}
printTable(
  `bench:headers — ${n} headers, ${validators.length} validators (quorum ${quorum}); ${cpus().length} × ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}, Node ${process.version}; load avg ${load0} at start, ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} at end`,
  ['run', 'signatures checked', 'total', 'per header'],
  rows,
)
