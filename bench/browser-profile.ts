/**
 * CPU profiles of the app's threads in bench:browser (CDP `Profiler.stop` on the page and on each
 * worker), read against an unminified build: self time per function and per bundled module, with
 * each top function's nearest caller outside its own module.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { type CpuProfile, type ProfileRow, profileRows, shortUrl } from './profile.ts'

export interface ProfileSummary {
  top: ProfileRow[]
  groups: ProfileRow[]
  totalMs: number
  idleMs: number
}

/** Module boundaries of an unminified rolldown bundle: "// path" comment lines at column 0. */
export function moduleMap(dist: string): Map<string, { line: number; mod: string }[]> {
  const out = new Map<string, { line: number; mod: string }[]>()
  for (const f of readdirSync(join(dist, 'assets')).filter((x) => x.endsWith('.js'))) {
    const lines = readFileSync(join(dist, 'assets', f), 'utf8').split('\n')
    const mods: { line: number; mod: string }[] = []
    lines.forEach((l, i) => {
      const m = /^\/\/ (\S+\.(?:[cm]?js|ts|svelte)\S*)$/.exec(l)
      if (m) mods.push({ line: i, mod: shortMod(m[1]!) })
    })
    out.set(f, mods)
  }
  return out
}

/** A bundled module's path as a group: its package (node_modules), else its path from src/. */
function shortMod(p: string): string {
  const s = shortUrl(p)
  if (!p.includes('node_modules/')) return s
  const [scope, name] = s.split('/')
  return scope!.startsWith('@') ? `${scope}/${name}` : scope!
}

export function summarizeProfile(
  p: CpuProfile,
  mods: Map<string, { line: number; mod: string }[]>,
): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]))
  const modOf = (url: string, line: number): string => {
    const list = mods.get(basename(url.split('?')[0]!))
    if (!list) return url ? basename(url) : ''
    let m = ''
    for (const x of list) {
      if (x.line > line) break
      m = x.mod
    }
    return m
  }
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const modOfNode = (id: number): string => {
    const cf = byId.get(id)!
    return cf.url ? modOf(cf.url, cf.lineNumber) : ''
  }
  const callers = new Map<string, Map<string, number>>()
  const self = new Map<string, number>()
  const group = new Map<string, number>()
  let total = 0
  let idle = 0
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000
    const cf = byId.get(p.samples[i]!)!
    total += dt
    if (cf.functionName === '(idle)' || cf.functionName === '(program)') {
      if (cf.functionName === '(idle)') idle += dt
      else self.set('(program)\t', (self.get('(program)\t') ?? 0) + dt)
      if (cf.functionName === '(program)') group.set('(program)', (group.get('(program)') ?? 0) + dt)
      continue
    }
    const mod = cf.url ? modOf(cf.url, cf.lineNumber) : ''
    const key = `${cf.functionName || '(anonymous)'}\t${mod}`
    self.set(key, (self.get(key) ?? 0) + dt)
    // The nearest caller outside this module (or the direct caller of a native/GC frame).
    let up = parent.get(p.samples[i]!)
    while (up !== undefined && mod && modOfNode(up) === mod) up = parent.get(up)
    if (up !== undefined) {
      const uf = byId.get(up)!
      const ck = `${uf.functionName || '(anonymous)'} (${modOfNode(up) || 'native'})`
      const m = callers.get(key) ?? new Map<string, number>()
      m.set(ck, (m.get(ck) ?? 0) + dt)
      callers.set(key, m)
    }
    const g = mod || cf.functionName
    group.set(g, (group.get(g) ?? 0) + dt)
  }
  const busy = Math.max(total - idle, 1e-9)
  const top = profileRows(self, busy).slice(0, 20)
  for (const r of top.slice(0, 8)) {
    const m = callers.get(`${r.fn}\t${r.where}`)
    if (!m) continue
    const sum = [...m.values()].reduce((a, b) => a + b, 0)
    r.callers = [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, ms]) => `${k} ${((ms / sum) * 100).toFixed(0)}%`)
      .join(', ')
  }
  return { top, groups: profileRows(group, busy).slice(0, 15), totalMs: total, idleMs: idle }
}
