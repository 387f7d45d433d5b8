/**
 * Core benchmark: our Merkle-Patricia trie against @ethereumjs/mpt, side by side in one run.
 *
 *   npm run bench:core                  default run (ethereumjs at 1M extrapolated from a prefix)
 *   BENCH_FULL=1 npm run bench:core     also runs ethereumjs on all 1M accounts (6–7 min more)
 *
 * Other knobs (for quick checks): BENCH_SEED (PRNG seed, default 1), BENCH_N_SMALL / BENCH_N_LARGE
 * (default 100000 / 1000000), BENCH_PROOFS (default 10000), BENCH_NO_UNLOAD_LARGE=0 to skip the 1M
 * incremental run that keeps the whole trie in memory.
 *
 * Data: N accounts, address = 20 bytes from a seeded PRNG, value = encodeAccount([nonce, balance,
 * EMPTY_ROOT, EMPTY_CODE_HASH]). The N = 100k set is the prefix of the 1M set. Addresses and values
 * live in two flat buffers (outside the V8 heap) and are handed out as views, so the heap figures are
 * the trie's, not the input's.
 *
 * Output: tables on stdout, progress on stderr, and a final `BENCH_JSON {...}` line.
 */
import { cpus } from 'node:os'
import { createMerkleProof, createMPT, type MerklePatriciaTrie, verifyMerkleProof } from '@ethereumjs/mpt'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { EMPTY_CODE_HASH, EMPTY_ROOT, encodeAccount } from '../src/core/account.ts'
import { equals, toHex } from '../src/core/bytes.ts'
import { keccak256, keccakImplementation, useNobleKeccak, useWasmKeccak } from '../src/core/hash.ts'
import { MemoryNodeStore } from '../src/core/store.ts'
import { verifyProof } from '../src/core/trie/proof.ts'
import { createRootBuilder } from '../src/core/trie/root-builder.ts'
import { Trie } from '../src/core/trie/trie.ts'
import {
  fmtMs,
  fmtNum,
  fmtRatio,
  gc,
  HeapSampler,
  type HeapStats,
  hasGc,
  note,
  now,
  Prng,
  printTable,
} from './lib.ts'

const env = process.env
const SEED = Number(env.BENCH_SEED ?? 1)
const FULL = env.BENCH_FULL === '1'
const N_SMALL = Number(env.BENCH_N_SMALL ?? 100_000)
const N_LARGE = Number(env.BENCH_N_LARGE ?? 1_000_000)
const PROOFS = Number(env.BENCH_PROOFS ?? 10_000)
const COMMIT_EVERY = 10_000
const ETH_PREFIX = Math.min(2 * N_SMALL, N_LARGE)
const LARGE_NO_UNLOAD = env.BENCH_NO_UNLOAD_LARGE !== '0'

const GOAL_ROOT = 10
const GOAL_INSERT = 3
const GOAL_HEAP_MB = 1024

// ---- data ---------------------------------------------------------------------------------------

interface Dataset {
  n: number
  addrs: Uint8Array
  vals: Uint8Array
  valOff: Uint32Array
}

function makeDataset(n: number, seed: number): Dataset {
  const rng = new Prng(seed)
  const addrs = new Uint8Array(n * 20)
  const vals = new Uint8Array(n * 96)
  const valOff = new Uint32Array(n + 1)
  let o = 0
  for (let i = 0; i < n; i++) {
    rng.fill(addrs.subarray(i * 20, i * 20 + 20))
    const nonce = BigInt(rng.int(1000))
    const balance = (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())
    const v = encodeAccount({ nonce, balance, storageRoot: EMPTY_ROOT, codeHash: EMPTY_CODE_HASH })
    vals.set(v, o)
    valOff[i] = o
    o += v.length
  }
  valOff[n] = o
  return { n, addrs, vals, valOff }
}

const addr = (d: Dataset, i: number): Uint8Array => d.addrs.subarray(i * 20, i * 20 + 20)
const val = (d: Dataset, i: number): Uint8Array => d.vals.subarray(d.valOff[i]!, d.valOff[i + 1]!)

// ---- our stack builder ----------------------------------------------------------------------------

interface BuilderRun {
  n: number
  keccak: string
  hashMs: number
  sortMs: number
  buildMs: number
  totalMs: number
  root: string
  heap: HeapStats
}

/** keccak(address) for every account, sort by hashed key, stream into the stack builder. */
function runBuilder(d: Dataset, n: number): BuilderRun {
  const heap = new HeapSampler()
  heap.start()
  const t0 = now()
  const hashed = new Uint8Array(n * 32)
  for (let i = 0; i < n; i++) {
    hashed.set(keccak256(addr(d, i)), i * 32)
    if ((i & 1023) === 0) heap.tick()
  }
  const t1 = now()
  // Sort indices by hashed key: first 4 bytes as one uint32, the remaining 28 bytes only on a tie.
  const prefix = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    const o = i * 32
    prefix[i] = ((hashed[o]! << 24) | (hashed[o + 1]! << 16) | (hashed[o + 2]! << 8) | hashed[o + 3]!) >>> 0
  }
  const idx = new Uint32Array(n)
  for (let i = 0; i < n; i++) idx[i] = i
  idx.sort((a, b) => {
    const d0 = prefix[a]! - prefix[b]!
    if (d0 !== 0) return d0
    for (let k = 4; k < 32; k++) {
      const dk = hashed[a * 32 + k]! - hashed[b * 32 + k]!
      if (dk !== 0) return dk
    }
    return 0
  })
  heap.sample()
  const t2 = now()
  const b = createRootBuilder()
  for (let j = 0; j < n; j++) {
    const i = idx[j]!
    b.add(hashed.subarray(i * 32, i * 32 + 32), val(d, i))
    if ((j & 1023) === 0) heap.tick()
  }
  const root = b.finish()
  const t3 = now()
  heap.settle()
  return {
    n,
    keccak: keccakImplementation(),
    hashMs: t1 - t0,
    sortMs: t2 - t1,
    buildMs: t3 - t2,
    totalMs: t3 - t0,
    root: toHex(root),
    heap: heap.stats(),
  }
}

// ---- our incremental trie -----------------------------------------------------------------------

interface InsertRun {
  n: number
  unload: boolean
  ms: number
  putMs: number
  commitMs: number
  perSec: number
  root: string
  storeNodes: number
  heap: HeapStats
}

async function runIncremental(
  d: Dataset,
  n: number,
  unload: boolean,
): Promise<{ run: InsertRun; trie: Trie }> {
  const heap = new HeapSampler()
  heap.start()
  const store = new MemoryNodeStore()
  const trie = new Trie(store, { secure: true })
  let commitMs = 0
  const t0 = now()
  for (let i = 0; i < n; i++) {
    await trie.put(addr(d, i), val(d, i))
    if ((i + 1) % COMMIT_EVERY === 0) {
      const c0 = now()
      await trie.commit()
      if (unload) trie.unload()
      commitMs += now() - c0
      heap.sample()
    } else if ((i & 255) === 0) heap.tick()
  }
  const c0 = now()
  const root = await trie.commit()
  commitMs += now() - c0
  const ms = now() - t0
  heap.settle()
  return {
    run: {
      n,
      unload,
      ms,
      putMs: ms - commitMs,
      commitMs,
      perSec: n / (ms / 1000),
      root: toHex(root),
      storeNodes: store.nodes.size,
      heap: heap.stats(),
    },
    trie,
  }
}

// ---- @ethereumjs/mpt ------------------------------------------------------------------------------

async function ethInsert(trie: MerklePatriciaTrie, d: Dataset, from: number, to: number, heap: HeapSampler) {
  const t0 = now()
  for (let i = from; i < to; i++) {
    await trie.put(addr(d, i), val(d, i))
    if ((i & 255) === 0) heap.tick()
    if ((i + 1) % 50_000 === 0)
      note(`  ethereumjs: ${fmtNum(i + 1)} accounts, ${fmtMs(now() - t0)} in this leg`)
  }
  return now() - t0
}

// ---- proofs ---------------------------------------------------------------------------------------

interface ProofRun {
  who: string
  count: number
  createMs: number
  verifyMs: number
  createPerSec: number
  verifyPerSec: number
  avgNodes: number
  allVerified: boolean
}

function proofRun(
  who: string,
  count: number,
  createMs: number,
  verifyMs: number,
  nodes: number,
  ok: boolean,
): ProofRun {
  return {
    who,
    count,
    createMs,
    verifyMs,
    createPerSec: count / (createMs / 1000),
    verifyPerSec: count / (verifyMs / 1000),
    avgNodes: nodes / count,
    allVerified: ok,
  }
}

async function ourProofs(trie: Trie, d: Dataset, picks: number[], who: string): Promise<ProofRun> {
  const root = trie.root()
  const proofs: Uint8Array[][] = new Array(picks.length)
  const t0 = now()
  for (let k = 0; k < picks.length; k++) proofs[k] = await trie.prove(addr(d, picks[k]!))
  const t1 = now()
  let ok = true
  for (let k = 0; k < picks.length; k++) {
    const i = picks[k]!
    const v = verifyProof(root, keccak256(addr(d, i)), proofs[k]!)
    if (!v || !equals(v, val(d, i))) ok = false
  }
  const t2 = now()
  const nodes = proofs.reduce((s, p) => s + p.length, 0)
  return proofRun(who, picks.length, t1 - t0, t2 - t1, nodes, ok)
}

async function ethProofs(trie: MerklePatriciaTrie, d: Dataset, picks: number[]): Promise<ProofRun> {
  const root = trie.root()
  const proofs: Uint8Array[][] = new Array(picks.length)
  const t0 = now()
  for (let k = 0; k < picks.length; k++) proofs[k] = await createMerkleProof(trie, addr(d, picks[k]!))
  const t1 = now()
  let ok = true
  for (let k = 0; k < picks.length; k++) {
    const i = picks[k]!
    const v = await verifyMerkleProof(addr(d, i), proofs[k]!, { root, useKeyHashing: true })
    if (!v || !equals(v, val(d, i))) ok = false
  }
  const t2 = now()
  // Cross-check: ethereumjs proofs also verify with ours (first 200).
  for (let k = 0; k < Math.min(200, picks.length); k++) {
    const i = picks[k]!
    const v = verifyProof(root, keccak256(addr(d, i)), proofs[k]!)
    if (!v || !equals(v, val(d, i))) ok = false
  }
  const nodes = proofs.reduce((s, p) => s + p.length, 0)
  return proofRun('@ethereumjs/mpt', picks.length, t1 - t0, t2 - t1, nodes, ok)
}

// ---- keccak -----------------------------------------------------------------------------------------

interface KeccakRun {
  impl: string
  size: number
  hashes: number
  ms: number
  perSec: number
  mbPerSec: number
}

function keccakRun(size: number, minMs: number): KeccakRun {
  const rng = new Prng(SEED + size)
  const inputs = Array.from({ length: 1024 }, () => rng.fill(new Uint8Array(size)))
  for (let i = 0; i < 2000; i++) keccak256(inputs[i & 1023]!) // warm-up
  let count = 0
  const t0 = now()
  let t = t0
  while (t - t0 < minMs) {
    for (let i = 0; i < 4096; i++) keccak256(inputs[i & 1023]!)
    count += 4096
    t = now()
  }
  const ms = t - t0
  const perSec = count / (ms / 1000)
  return { impl: keccakImplementation(), size, hashes: count, ms, perSec, mbPerSec: (perSec * size) / 1e6 }
}

function keccakAgree(): boolean {
  const rng = new Prng(SEED + 7)
  const inputs = Array.from({ length: 200 }, (_, i) => rng.fill(new Uint8Array(i * 3)))
  return inputs.every((x) => equals(keccak256(x), keccak_256(x)))
}

// ---- report helpers -------------------------------------------------------------------------------

const yes = (b: boolean): string => (b ? 'yes' : 'NO')
const met = (b: boolean): string => (b ? 'met' : 'NOT met')
const mb = (x: number): string => fmtNum(x, 0)

function heapRow(label: string, h: HeapStats): string[] {
  return [
    label,
    mb(h.baseMB),
    mb(h.peakMB),
    mb(h.peakMB - h.baseMB),
    mb(h.liveEndMB),
    mb(h.peakWithExternalMB),
    `${met(h.peakMB <= GOAL_HEAP_MB)} (≤ ${GOAL_HEAP_MB})`,
  ]
}

/** Everything at N small, plus ethereumjs past it; the tries are dropped when this returns. */
async function smallPhase(d: Dataset) {
  note(`@ethereumjs/mpt: inserting ${fmtNum(N_SMALL)} accounts`)
  const ethHeap = new HeapSampler()
  ethHeap.start()
  const eth = await createMPT({ useKeyHashing: true })
  const ethSmallMs = await ethInsert(eth, d, 0, N_SMALL, ethHeap)
  const ethSmallRoot = toHex(eth.root())

  note(`ours: stack builder, ${fmtNum(N_SMALL)}`)
  const bSmall = runBuilder(d, N_SMALL)
  note(`ours: incremental, ${fmtNum(N_SMALL)}, unload after commit`)
  const iSmallUnload = (await runIncremental(d, N_SMALL, true)).run
  gc()
  note(`ours: incremental, ${fmtNum(N_SMALL)}, no unload`)
  const { run: iSmall, trie: ourSmall } = await runIncremental(d, N_SMALL, false)

  // Proofs on the N small trie.
  const prng = new Prng(SEED + 99)
  const picks = Array.from({ length: PROOFS }, () => prng.int(N_SMALL))
  note(`proofs: ${fmtNum(PROOFS)} on the ${fmtNum(N_SMALL)} trie`)
  const pOurs = await ourProofs(ourSmall, d, picks, 'ours (in memory)')
  const cold = new Trie(ourSmall.store, { secure: true, root: ourSmall.root() })
  const pCold = await ourProofs(cold, d, picks, 'ours (opened from store)')
  const pEth = await ethProofs(eth, d, picks)

  // ethereumjs past N small: the prefix for the 1M estimate (or all of it with BENCH_FULL).
  const ethTarget = FULL ? N_LARGE : ETH_PREFIX
  note(`@ethereumjs/mpt: continuing to ${fmtNum(ethTarget)} accounts`)
  const ethRestMs = await ethInsert(eth, d, N_SMALL, ethTarget, ethHeap)
  const ethTargetMs = ethSmallMs + ethRestMs
  const ethTargetRoot = toHex(eth.root())
  ethHeap.sample()
  const ethHeapStats = ethHeap.stats()
  return {
    ethSmallMs,
    ethSmallRoot,
    bSmall,
    iSmallUnload,
    iSmall,
    pOurs,
    pCold,
    pEth,
    ethTarget,
    ethTargetMs,
    ethTargetRoot,
    ethHeapStats,
  }
}

// ---- main -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const tStart = now()
  if (!hasGc()) note('warning: run with --expose-gc (npm run bench:core) for baselines and live-heap figures')
  useNobleKeccak()
  const cpu = cpus()[0]?.model ?? 'unknown'
  console.log('rootsync core benchmark')
  console.log(
    `node ${process.version}, ${cpus().length} CPUs (${cpu}), seed ${SEED}, N = ${fmtNum(N_SMALL)} / ${fmtNum(N_LARGE)}, BENCH_FULL=${FULL ? 1 : 0}`,
  )

  note(`generating ${fmtNum(N_LARGE)} accounts`)
  const d = makeDataset(N_LARGE, SEED)
  gc()

  const {
    ethSmallMs,
    ethSmallRoot,
    bSmall,
    iSmallUnload,
    iSmall,
    pOurs,
    pCold,
    pEth,
    ethTarget,
    ethTargetMs,
    ethTargetRoot,
    ethHeapStats,
  } = await smallPhase(d)
  const prefixCheck = FULL ? null : runBuilder(d, ETH_PREFIX)
  // Estimate of ethereumjs at N_LARGE: take the lower (more favourable to ethereumjs) of the prefix's
  // average rate and the marginal rate between N_SMALL and the prefix. Depth grows with N, so the real
  // figure is, if anything, higher.
  const estByAvg = (ethTargetMs / ETH_PREFIX) * N_LARGE
  const estBySlope =
    ethTargetMs + ((ethTargetMs - ethSmallMs) / (ETH_PREFIX - N_SMALL)) * (N_LARGE - ETH_PREFIX)
  const ethLargeMs = FULL ? ethTargetMs : Math.min(estByAvg, estBySlope)
  const ethLargeTag = FULL ? 'measured' : `EXTRAPOLATED from ${fmtNum(ETH_PREFIX)}`
  gc()

  // ---- N large: ours ----
  note(`ours: stack builder, ${fmtNum(N_LARGE)} (noble keccak)`)
  const bLarge = runBuilder(d, N_LARGE)
  gc()
  note(`ours: incremental, ${fmtNum(N_LARGE)}, unload after commit`)
  const iLargeUnload = (await runIncremental(d, N_LARGE, true)).run
  gc()
  let iLarge: InsertRun | null = null
  if (LARGE_NO_UNLOAD) {
    note(`ours: incremental, ${fmtNum(N_LARGE)}, no unload`)
    iLarge = (await runIncremental(d, N_LARGE, false)).run
    gc()
  }

  // ---- keccak ----
  note('keccak: noble vs hash-wasm')
  const kNoble = [keccakRun(300, 1500), keccakRun(20, 1000)]
  await useWasmKeccak()
  const kWasm = [keccakRun(300, 1500), keccakRun(20, 1000)]
  const kAgree = keccakAgree()
  note(`ours: stack builder, ${fmtNum(N_LARGE)} (wasm keccak)`)
  const bLargeWasm = runBuilder(d, N_LARGE)
  useNobleKeccak()

  // ---- report ----
  const rootSmallOk =
    bSmall.root === ethSmallRoot && iSmall.root === ethSmallRoot && iSmallUnload.root === ethSmallRoot
  const rootLargeOk =
    bLarge.root === iLargeUnload.root &&
    bLargeWasm.root === bLarge.root &&
    (iLarge === null || iLarge.root === bLarge.root) &&
    (FULL ? ethTargetRoot === bLarge.root : prefixCheck!.root === ethTargetRoot)

  console.log('\nRoot checks')
  console.log(
    `  N=${fmtNum(N_SMALL)}: ours (builder, incremental ×2) = @ethereumjs/mpt = ${ethSmallRoot}: ${yes(rootSmallOk)}`,
  )
  if (FULL) {
    console.log(
      `  N=${fmtNum(N_LARGE)}: ours (all runs) = @ethereumjs/mpt = ${ethTargetRoot}: ${yes(rootLargeOk)}`,
    )
  } else {
    console.log(
      `  N=${fmtNum(N_LARGE)}: ours (builder noble/wasm, incremental) agree on ${bLarge.root}; ` +
        `N=${fmtNum(ETH_PREFIX)} prefix: ours = @ethereumjs/mpt = ${ethTargetRoot}: ${yes(rootLargeOk)}`,
    )
  }

  const ethSmallPerSec = N_SMALL / (ethSmallMs / 1000)
  const ethLargePerSec = N_LARGE / (ethLargeMs / 1000)
  const rootRatioSmall = ethSmallMs / bSmall.totalMs
  const rootRatioLarge = ethLargeMs / bLarge.totalMs
  const rootRatioLargeWasm = ethLargeMs / bLargeWasm.totalMs

  printTable(
    `1. State root of N accounts (ours: keccak keys + sort + stack builder; @ethereumjs/mpt: put all + root())`,
    [
      'N',
      'ours hash',
      'sort',
      'build',
      'ours total',
      '@ethereumjs/mpt',
      'ethjs source',
      'ours faster by',
      'goal ≥10×',
    ],
    [
      [
        fmtNum(N_SMALL),
        fmtMs(bSmall.hashMs),
        fmtMs(bSmall.sortMs),
        fmtMs(bSmall.buildMs),
        fmtMs(bSmall.totalMs),
        fmtMs(ethSmallMs),
        'measured',
        fmtRatio(rootRatioSmall),
        '',
      ],
      [
        fmtNum(N_LARGE),
        fmtMs(bLarge.hashMs),
        fmtMs(bLarge.sortMs),
        fmtMs(bLarge.buildMs),
        fmtMs(bLarge.totalMs),
        fmtMs(ethLargeMs),
        ethLargeTag,
        fmtRatio(rootRatioLarge),
        met(rootRatioLarge >= GOAL_ROOT),
      ],
      [
        `${fmtNum(N_LARGE)} wasm`,
        fmtMs(bLargeWasm.hashMs),
        fmtMs(bLargeWasm.sortMs),
        fmtMs(bLargeWasm.buildMs),
        fmtMs(bLargeWasm.totalMs),
        fmtMs(ethLargeMs),
        ethLargeTag,
        fmtRatio(rootRatioLargeWasm),
        met(rootRatioLargeWasm >= GOAL_ROOT),
      ],
    ],
  )
  if (!FULL) {
    console.log(
      `  @ethereumjs/mpt at ${fmtNum(N_LARGE)} is EXTRAPOLATED: measured ${fmtMs(ethSmallMs)} for ${fmtNum(N_SMALL)} and ` +
        `${fmtMs(ethTargetMs)} for ${fmtNum(ETH_PREFIX)}; linear by average rate ${fmtMs(estByAvg)}, by marginal rate ` +
        `${fmtMs(estBySlope)}; the lower is used. BENCH_FULL=1 measures it.`,
    )
  }

  const insRows: string[][] = [
    [
      fmtNum(N_SMALL),
      'commit/10k + unload',
      fmtMs(iSmallUnload.ms),
      fmtMs(iSmallUnload.commitMs),
      fmtNum(iSmallUnload.perSec),
      fmtNum(ethSmallPerSec),
      'measured',
      fmtRatio(iSmallUnload.perSec / ethSmallPerSec),
      '',
    ],
    [
      fmtNum(N_SMALL),
      'commit/10k',
      fmtMs(iSmall.ms),
      fmtMs(iSmall.commitMs),
      fmtNum(iSmall.perSec),
      fmtNum(ethSmallPerSec),
      'measured',
      fmtRatio(iSmall.perSec / ethSmallPerSec),
      '',
    ],
  ]
  for (const r of [iLargeUnload, iLarge]) {
    if (!r) continue
    insRows.push([
      fmtNum(N_LARGE),
      r.unload ? 'commit/10k + unload' : 'commit/10k',
      fmtMs(r.ms),
      fmtMs(r.commitMs),
      fmtNum(r.perSec),
      fmtNum(ethLargePerSec),
      ethLargeTag,
      fmtRatio(r.perSec / ethLargePerSec),
      met(r.perSec / ethLargePerSec >= GOAL_INSERT),
    ])
  }
  printTable(
    '2. Incremental inserts (ours: Trie secure over MemoryNodeStore; @ethereumjs/mpt: put, same run as 1.)',
    [
      'N',
      'ours mode',
      'ours total',
      'of which commit',
      'ours ins/s',
      'ethjs ins/s',
      'ethjs source',
      'ours faster by',
      'goal ≥3×',
    ],
    insRows,
  )

  printTable(
    `3. Proofs: ${fmtNum(PROOFS)} random existing accounts of the ${fmtNum(N_SMALL)} trie`,
    ['who', 'create/s', 'verify/s', 'nodes/proof', 'all verified', 'create ×', 'verify ×'],
    [pOurs, pCold, pEth].map((p) => [
      p.who,
      fmtNum(p.createPerSec),
      fmtNum(p.verifyPerSec),
      fmtNum(p.avgNodes, 2),
      yes(p.allVerified),
      p === pEth ? '1×' : fmtRatio(p.createPerSec / pEth.createPerSec),
      p === pEth ? '1×' : fmtRatio(p.verifyPerSec / pEth.verifyPerSec),
    ]),
  )
  console.log(
    '  (nodes/proof: @ethereumjs/mpt also lists inline nodes; ethereumjs proofs cross-checked with ours)',
  )

  printTable(
    '4. keccak-256 (src/core/hash.ts)',
    ['impl', 'input', 'hashes/s', 'MB/s', 'vs noble'],
    kNoble.flatMap((k, i) => {
      const w = kWasm[i]!
      return [
        [k.impl, `${k.size} B`, fmtNum(k.perSec), fmtNum(k.mbPerSec, 1), '1×'],
        [w.impl, `${w.size} B`, fmtNum(w.perSec), fmtNum(w.mbPerSec, 1), fmtRatio(w.perSec / k.perSec)],
      ]
    }),
  )
  console.log(`  digests identical on 200 random inputs: ${yes(kAgree)}`)
  console.log(
    `  builder ${fmtNum(N_LARGE)} with wasm keccak: ${fmtMs(bLargeWasm.totalMs)} vs ${fmtMs(bLarge.totalMs)} noble ` +
      `(${fmtRatio(bLarge.totalMs / bLargeWasm.totalMs)}; hashing ${fmtMs(bLargeWasm.hashMs)} vs ${fmtMs(bLarge.hashMs)}, ` +
      `build ${fmtMs(bLargeWasm.buildMs)} vs ${fmtMs(bLarge.buildMs)})`,
  )

  const heapRows = [
    heapRow(`builder ${fmtNum(N_LARGE)} noble`, bLarge.heap),
    heapRow(`builder ${fmtNum(N_LARGE)} wasm`, bLargeWasm.heap),
    heapRow(`incremental ${fmtNum(N_LARGE)} + unload`, iLargeUnload.heap),
  ]
  if (iLarge) heapRows.push(heapRow(`incremental ${fmtNum(N_LARGE)}`, iLarge.heap))
  printTable(
    `5. Heap (MB, heapUsed sampled every ~50 ms inside the loops; "live" = after a full GC at the end, results still referenced)`,
    ['run', 'base', 'peak', 'peak-base', 'live end', 'peak+external', 'goal ≤1 GB'],
    heapRows,
  )
  console.log(
    `  incremental runs include the MemoryNodeStore (${fmtNum(iLargeUnload.storeNodes)} nodes as hex-string keys) ` +
      'in the heap; base includes the 1M input buffers only as small views (the buffers are external).',
  )
  console.log(
    `  @ethereumjs/mpt heap peak over its run to ${fmtNum(ethTarget)}: ${mb(ethHeapStats.peakMB)} MB (for comparison)`,
  )

  const largeInsertBest = iLarge && iLarge.perSec > iLargeUnload.perSec ? iLarge : iLargeUnload
  const heapMax = Math.max(bLarge.heap.peakMB, bLargeWasm.heap.peakMB, iLargeUnload.heap.peakMB)
  console.log('\nGoals')
  console.log(
    `  root of ${fmtNum(N_LARGE)} ≥${GOAL_ROOT}× faster: ${fmtRatio(rootRatioLarge)} noble, ${fmtRatio(rootRatioLargeWasm)} wasm ` +
      `(${ethLargeTag}) → ${met(rootRatioLarge >= GOAL_ROOT)} with the default keccak, ${met(rootRatioLargeWasm >= GOAL_ROOT)} with wasm`,
  )
  console.log(
    `  incremental inserts ≥${GOAL_INSERT}× faster at ${fmtNum(N_LARGE)}: ${fmtRatio(iLargeUnload.perSec / ethLargePerSec)} with unload` +
      (iLarge ? `, ${fmtRatio(iLarge.perSec / ethLargePerSec)} without` : '') +
      `; at ${fmtNum(N_SMALL)}: ${fmtRatio(iSmallUnload.perSec / ethSmallPerSec)} / ${fmtRatio(iSmall.perSec / ethSmallPerSec)} → ` +
      met(iLargeUnload.perSec / ethLargePerSec >= GOAL_INSERT),
  )
  console.log(
    `  heap ≤${GOAL_HEAP_MB} MB at ${fmtNum(N_LARGE)}: builder ${mb(bLarge.heap.peakMB)} MB, incremental+unload ${mb(iLargeUnload.heap.peakMB)} MB` +
      (iLarge ? `, incremental without unload ${mb(iLarge.heap.peakMB)} MB` : '') +
      ` → ${met(heapMax <= GOAL_HEAP_MB)} (builder and incremental+unload)`,
  )
  console.log(`\ntotal wall time ${fmtMs(now() - tStart)}`)

  const json = {
    node: process.version,
    cpus: cpus().length,
    cpu,
    seed: SEED,
    full: FULL,
    nSmall: N_SMALL,
    nLarge: N_LARGE,
    roots: {
      small: ethSmallRoot,
      large: bLarge.root,
      prefix: ethTargetRoot,
      smallOk: rootSmallOk,
      largeOk: rootLargeOk,
    },
    eth: {
      smallMs: ethSmallMs,
      prefixN: ethTarget,
      prefixMs: ethTargetMs,
      largeMs: ethLargeMs,
      largeMeasured: FULL,
      estByAvgMs: estByAvg,
      estBySlopeMs: estBySlope,
      peakHeapMB: ethHeapStats.peakMB,
    },
    builder: { small: bSmall, large: bLarge, largeWasm: bLargeWasm },
    incremental: { smallUnload: iSmallUnload, small: iSmall, largeUnload: iLargeUnload, large: iLarge },
    proofs: { ours: pOurs, oursFromStore: pCold, eth: pEth },
    keccak: { noble: kNoble, wasm: kWasm, agree: kAgree },
    ratios: {
      rootSmall: rootRatioSmall,
      rootLarge: rootRatioLarge,
      rootLargeWasm: rootRatioLargeWasm,
      insertSmallUnload: iSmallUnload.perSec / ethSmallPerSec,
      insertSmall: iSmall.perSec / ethSmallPerSec,
      insertLargeUnload: iLargeUnload.perSec / ethLargePerSec,
      insertLarge: iLarge ? iLarge.perSec / ethLargePerSec : null,
      insertLargeBest: largeInsertBest.perSec / ethLargePerSec,
    },
    goals: {
      root10x: rootRatioLarge >= GOAL_ROOT,
      root10xWasm: rootRatioLargeWasm >= GOAL_ROOT,
      insert3x: iLargeUnload.perSec / ethLargePerSec >= GOAL_INSERT,
      heap1GB: heapMax <= GOAL_HEAP_MB,
    },
    wallMs: now() - tStart,
  }
  console.log(`BENCH_JSON ${JSON.stringify(json)}`)
}

await main()
