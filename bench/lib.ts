/**
 * Small helpers shared by the benchmarks: a seeded PRNG, timing, heap-peak sampling and table output.
 *
 * Heap sampling: timers do not fire while an async loop only awaits already-resolved promises (no
 * macrotask turn), so a `HeapSampler` is driven from inside the measured loop: `tick()` is cheap and
 * takes a `process.memoryUsage()` sample at most every `intervalMs`. `settle()` forces a full GC
 * (needs `node --expose-gc`) and samples the live heap.
 */
import { readdirSync, readFileSync } from 'node:fs'
import {
  type NodeStore,
  stagedHashesFromMeta,
  stagedMetaKey,
  stagingAsMeta,
  type WriteBatch,
} from '../src/core/store.ts'

export const MB = 1024 * 1024

/** Forces a full GC when the process runs with --expose-gc; a no-op otherwise. */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

export const hasGc = (): boolean => typeof (globalThis as { gc?: unknown }).gc === 'function'

export const now = (): number => performance.now()

/** xoshiro128** seeded through splitmix32: deterministic, fast, good enough for test data. */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: number) {
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
  }
  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a
    this.d ^= this.b
    this.b ^= this.c
    this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return r
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n)
  }
  fill(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i += 4) {
      const r = this.u32()
      out[i] = r & 255
      if (i + 1 < out.length) out[i + 1] = (r >>> 8) & 255
      if (i + 2 < out.length) out[i + 2] = (r >>> 16) & 255
      if (i + 3 < out.length) out[i + 3] = r >>> 24
    }
    return out
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

export interface HeapStats {
  /** heapUsed before the run, after a full GC (inputs already resident), MB. */
  baseMB: number
  /** Highest heapUsed sampled during the run (includes garbage not yet collected), MB. */
  peakMB: number
  /** heapUsed after a full GC at the end of the run, with the run's results still referenced, MB. */
  liveEndMB: number
  /** Highest heapUsed + external (ArrayBuffer backing stores live outside the V8 heap), MB. */
  peakWithExternalMB: number
  samples: number
}

export class HeapSampler {
  private last = 0
  private base = 0
  private peak = 0
  private peakExt = 0
  private count = 0
  private liveEnd = 0

  constructor(private readonly intervalMs = 50) {}

  /** GCs, records the baseline and starts sampling. */
  start(): void {
    gc()
    const m = process.memoryUsage()
    this.base = m.heapUsed
    this.peak = m.heapUsed
    this.peakExt = m.heapUsed + m.external
    this.count = 1
    this.last = now()
  }

  /** Takes a sample if `intervalMs` passed since the last one. */
  tick(): void {
    const t = now()
    if (t - this.last >= this.intervalMs) {
      this.last = t
      this.sample()
    }
  }

  sample(): void {
    const m = process.memoryUsage()
    this.count++
    if (m.heapUsed > this.peak) this.peak = m.heapUsed
    const ext = m.heapUsed + m.external
    if (ext > this.peakExt) this.peakExt = ext
  }

  /** Full GC and a sample of the live heap (call outside timed regions). */
  settle(): number {
    this.sample()
    gc()
    const live = process.memoryUsage().heapUsed
    this.liveEnd = live
    return live
  }

  stats(): HeapStats {
    return {
      baseMB: this.base / MB,
      peakMB: this.peak / MB,
      liveEndMB: this.liveEnd / MB,
      peakWithExternalMB: this.peakExt / MB,
      samples: this.count,
    }
  }
}

/** Times `fn` once, in milliseconds. */
export async function time<T>(fn: () => T | Promise<T>): Promise<{ ms: number; result: T }> {
  const t0 = now()
  const result = await fn()
  return { ms: now() - t0, result }
}

// ---- formatting ---------------------------------------------------------------------------------

export function fmtNum(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n)
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${fmtNum(ms / 1000, 1)} s`
  if (ms >= 1000) return `${fmtNum(ms / 1000, 2)} s`
  return `${fmtNum(ms, 1)} ms`
}

export function fmtRate(perSec: number, unit = '/s'): string {
  return `${fmtNum(perSec)}${unit}`
}

/** "12.3×": how many times faster `ours` is, given two durations (or two rates with `rates`). */
export function ratio(ours: number, theirs: number, rates = false): number {
  return rates ? ours / theirs : theirs / ours
}

export function fmtRatio(r: number): string {
  return `${fmtNum(r, r >= 100 ? 0 : r >= 10 ? 1 : 2)}×`
}

/** Prints rows as an aligned text table (first column left-aligned, the rest right-aligned). */
export function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')
  const sep = widths.map((w) => '-'.repeat(w)).join('-+-')
  console.log(`\n${title}`)
  console.log(line(header))
  console.log(sep)
  for (const r of rows) console.log(line(r))
}

/** Prints a progress note to stderr so stdout stays the report. */
export function note(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`)
}

// ---- an off-heap node store -------------------------------------------------------------------------

const CHUNK = 64 * MB

/**
 * A `NodeStore` that keeps node bytes outside the V8 heap (64 MB ArrayBuffer chunks, an open-addressing
 * index in typed arrays), standing in for LevelDB/IndexedDB when measuring the trie's own heap: with
 * `MemoryNodeStore` every node costs a hex-string key and a Uint8Array object on the heap. Keys must be
 * 32-byte hashes (uniform, so their first bytes index the table directly). getNode returns a copy.
 */
export class ExternalNodeStore implements NodeStore {
  private chunks: Uint8Array[] = [new Uint8Array(CHUNK)]
  private used = 0 // bytes used in the last chunk
  private slots = new Uint32Array(1 << 20) // entry index + 1, 0 = empty
  private mask = (1 << 20) - 1
  private entChunk = new Uint32Array(1 << 16)
  private entOff = new Uint32Array(1 << 16)
  private entLen = new Int32Array(1 << 16) // -1 = deleted
  private count = 0
  readonly meta = new Map<string, Uint8Array>()
  writes = 0

  get size(): number {
    return this.count
  }

  /** Bytes held outside the heap (chunks and index). */
  get externalBytes(): number {
    return this.chunks.length * CHUNK + this.slots.byteLength + this.entChunk.byteLength * 3
  }

  private find(hash: Uint8Array): number {
    let s = ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) & this.mask
    for (;;) {
      const e = this.slots[s]!
      if (e === 0) return -1 - s
      const c = this.chunks[this.entChunk[e - 1]!]!
      const o = this.entOff[e - 1]!
      let k = 0
      while (k < 32 && c[o + k] === hash[k]) k++
      if (k === 32) return e - 1
      s = (s + 1) & this.mask
    }
  }

  private grow(): void {
    if (this.count + 1 > this.entLen.length) {
      const n = this.entLen.length * 2
      const c = new Uint32Array(n)
      c.set(this.entChunk)
      this.entChunk = c
      const o = new Uint32Array(n)
      o.set(this.entOff)
      this.entOff = o
      const l = new Int32Array(n)
      l.set(this.entLen)
      this.entLen = l
    }
    if ((this.count + 1) * 2 > this.slots.length) {
      const slots = new Uint32Array(this.slots.length * 2)
      const mask = slots.length - 1
      for (let e = 0; e < this.count; e++) {
        const c = this.chunks[this.entChunk[e]!]!
        const o = this.entOff[e]!
        let s = ((c[o]! << 24) | (c[o + 1]! << 16) | (c[o + 2]! << 8) | c[o + 3]!) & mask
        while (slots[s] !== 0) s = (s + 1) & mask
        slots[s] = e + 1
      }
      this.slots = slots
      this.mask = mask
    }
  }

  private put(hash: Uint8Array, value: Uint8Array): void {
    const f = this.find(hash)
    if (f >= 0) {
      if (this.entLen[f]! >= 0) return // content-addressed: same key, same bytes
    }
    const need = 32 + value.length
    if (this.used + need > CHUNK) {
      this.chunks.push(new Uint8Array(Math.max(CHUNK, need)))
      this.used = 0
    }
    const ci = this.chunks.length - 1
    const c = this.chunks[ci]!
    c.set(hash, this.used)
    c.set(value, this.used + 32)
    if (f >= 0) {
      this.entChunk[f] = ci
      this.entOff[f] = this.used
      this.entLen[f] = value.length
    } else {
      this.grow()
      const e = this.count++
      this.entChunk[e] = ci
      this.entOff[e] = this.used
      this.entLen[e] = value.length
      // grow() may have rehashed: probe again for a free slot.
      let s = ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) & this.mask
      while (this.slots[s] !== 0) s = (s + 1) & this.mask
      this.slots[s] = e + 1
    }
    this.used += need
  }

  async getNode(hash: Uint8Array): Promise<Uint8Array | undefined> {
    const e = this.find(hash)
    if (e < 0 || this.entLen[e]! < 0) return undefined
    const o = this.entOff[e]! + 32
    return this.chunks[this.entChunk[e]!]!.slice(o, o + this.entLen[e]!)
  }
  async hasNode(hash: Uint8Array): Promise<boolean> {
    const e = this.find(hash)
    return e >= 0 && this.entLen[e]! >= 0
  }
  async hasNodes(hashes: Uint8Array[]): Promise<boolean[]> {
    return hashes.map((h) => {
      const e = this.find(h)
      return e >= 0 && this.entLen[e]! >= 0
    })
  }

  async *metaKeys(prefix: string): AsyncIterable<string> {
    for (const k of [...this.meta.keys()]) if (k.startsWith(prefix)) yield k
  }

  async getMeta(key: string): Promise<Uint8Array | undefined> {
    return this.meta.get(key)
  }
  async write(batch: WriteBatch): Promise<void> {
    this.writes++
    for (const [h, v] of batch.nodes ?? []) this.put(h, v)
    for (const h of batch.deleteNodes ?? []) {
      const e = this.find(h)
      if (e >= 0) this.entLen[e] = -1
    }
    for (const [k, v] of [...(batch.meta ?? []), ...stagingAsMeta(batch)]) {
      if (v === null) this.meta.delete(k)
      else this.meta.set(k, v)
    }
  }
  async getStaged(hash: Uint8Array): Promise<Uint8Array | undefined> {
    return this.meta.get(stagedMetaKey(hash))
  }
  stagedHashes(): AsyncIterable<Uint8Array> {
    return stagedHashesFromMeta(this)
  }
}

/** This process's CPU while it only waits (timers, connections' housekeeping), in ms per second. */
export async function idleCpu(ms: number): Promise<number> {
  const idle0 = process.cpuUsage()
  const idleT = performance.now()
  await new Promise((r) => setTimeout(r, ms))
  const idle = process.cpuUsage(idle0)
  return (idle.user + idle.system) / (performance.now() - idleT)
}

/**
 * A bench page or worker (TypeScript) bundled into one ES module for the browser, as text to serve.
 * `minify: false` keeps function names readable in CPU profiles.
 */
export async function bundleForBrowser(entry: string, opts: { minify?: boolean } = {}): Promise<string> {
  const { build } = await import('esbuild')
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    minify: opts.minify ?? true,
    write: false,
    logLevel: 'error',
  })
  return out.outputFiles[0]!.text
}

// ---- CPU accounting from Linux /proc ------------------------------------------------------------

const CLK_TCK = 100 // Linux USER_HZ (getconf CLK_TCK)

/** utime + stime of a process, ms (NaN once it has exited). */
export function procCpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/** Machine-wide CPU: busy and total jiffies (all cores). */
export function machineCpu(): { busy: number; total: number } {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = l.reduce((a, b) => a + b, 0)
  const idle = (l[3] ?? 0) + (l[4] ?? 0)
  return { busy: total - idle, total }
}

export const cores = (): number => readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 1

/** /proc/loadavg: the 1, 5 and 15 minute load averages. */
export const loadAvg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

/**
 * Processes whose command line contains every one of `needles` and none of `not` (e.g. a Chromium
 * profile directory and `--type=renderer`).
 */
export function pidsMatching(needles: string[], not: string[] = []): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8')
      if (needles.every((n) => cmd.includes(n)) && !not.some((n) => cmd.includes(n))) out.push(Number(d))
    } catch {}
  }
  return out
}

/**
 * A Chromium's processes by role, for `cpuWindow`: renderers (pages and their workers), the network
 * service (sockets, WebSocket framing), the storage service (IndexedDB's backend), and the rest
 * (browser process, GPU, zygotes).
 */
export function chromiumGroups(profileNeedle: string): Record<string, () => number[]> {
  const net = '--utility-sub-type=network.mojom.NetworkService'
  const storage = '--utility-sub-type=storage.mojom.StorageService'
  return {
    'chromium renderers': () => pidsMatching([profileNeedle, '--type=renderer']),
    'chromium network': () => pidsMatching([profileNeedle, net]),
    'chromium storage': () => pidsMatching([profileNeedle, storage]),
    'chromium other': () => pidsMatching([profileNeedle], ['--type=renderer', net, storage]),
  }
}

/** Cores each group of processes used over a window, and the whole machine's busy cores. */
export interface CpuWindow {
  wallMs: number
  machineBusyCores: number
  cores: Record<string, number>
}

/**
 * Starts a CPU window over named groups of processes; the returned function ends it. A process that
 * starts inside the window counts from zero; its CPU is read at the end, so it must still be running
 * (read before closing it).
 */
export function cpuWindow(groups: Record<string, () => number[]>): () => CpuWindow {
  const t0 = performance.now()
  const m0 = machineCpu()
  const at0 = new Map<number, number>()
  for (const pids of Object.values(groups)) for (const pid of pids()) at0.set(pid, procCpuMs(pid))
  return () => {
    const wallMs = performance.now() - t0
    const m1 = machineCpu()
    const out: Record<string, number> = {}
    for (const [name, pids] of Object.entries(groups)) {
      let ms = 0
      for (const pid of pids()) {
        const now = procCpuMs(pid)
        if (Number.isFinite(now)) ms += now - (at0.get(pid) ?? 0)
      }
      out[name] = ms / wallMs
    }
    return {
      wallMs,
      machineBusyCores: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * cores(),
      cores: out,
    }
  }
}

/** "machine 1.9 of 2 cores busy; servers 0.6, chromium 1.2". */
export const fmtCpuWindow = (w: CpuWindow): string =>
  `machine ${w.machineBusyCores.toFixed(2)} of ${cores()} cores busy; ${Object.entries(w.cores)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ')}`
