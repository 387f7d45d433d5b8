/**
 * Small helpers shared by the benchmarks: a seeded PRNG, timing, heap-peak sampling and table output.
 *
 * Heap sampling: timers do not fire while an async loop only awaits already-resolved promises (no
 * macrotask turn), so a `HeapSampler` is driven from inside the measured loop: `tick()` is cheap and
 * takes a `process.memoryUsage()` sample at most every `intervalMs`. `settle()` forces a full GC
 * (needs `node --expose-gc`) and samples the live heap.
 */

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
