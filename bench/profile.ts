/**
 * V8 CPU profiles (`--cpu-prof` files, CDP `Profiler.stop`) as the benchmarks read them: the types,
 * short names for script URLs, and self-time rows. Each benchmark attributes samples its own way
 * (a time window, bundle modules, callers); this is what they share.
 */

export interface CpuProfile {
  startTime?: number
  nodes: {
    id: number
    callFrame: {
      functionName: string
      url: string
      lineNumber: number
      columnNumber?: number
      scriptId?: string
    }
    children?: number[]
  }[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileRow {
  fn: string
  where: string
  selfMs: number
  pct: number
  /** For the top rows: the nearest callers outside the function's own module, with their share. */
  callers?: string
}

/** A script URL as a reader wants it: the package path, or the path from src/ or bench/. */
export function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length)
  for (const dir of ['/src/', '/bench/']) {
    const at = url.indexOf(dir)
    if (at >= 0) return url.slice(at + 1)
  }
  return url.replace(/^file:\/\//, '')
}

/** Rows from self time keyed `function\twhere`, largest first, with their share of `busyMs`. */
export function profileRows(selfMs: Map<string, number>, busyMs: number): ProfileRow[] {
  return [...selfMs]
    .map(([k, ms]) => {
      const [fn, where] = k.split('\t')
      return { fn: fn!, where: where ?? '', selfMs: ms, pct: (ms / busyMs) * 100 }
    })
    .sort((a, b) => b.selfMs - a.selfMs)
}
