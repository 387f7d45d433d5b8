/**
 * Chromium for bench:browser: a headless Debian `chromium` with a fresh profile, driven by
 * playwright-core over CDP plus a raw CDP connection beside it (flat sessions), and what the bench
 * watches through that connection: every worker of the app — dedicated, shared and service workers,
 * and workers they start themselves — attached as it starts (`Target.setAutoAttach` at the browser
 * level, then again on every page and worker attached, so nested workers are found too), with
 * their JS heaps sampled and summed; and long tasks on the page's main thread.
 *
 * Also the bench's child processes (serving nodes, Chromium), so every exit path can end them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import WebSocket from 'ws'
import { chromiumPath } from '../test/helpers/browser.ts'
import { MB, note } from './lib.ts'

/** Every child process the bench started and that has not exited. */
export const started = new Set<ChildProcess>()

export async function stopProc(p: ChildProcess, group = false): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  const kill = (sig: NodeJS.Signals): void => {
    try {
      if (group) process.kill(-p.pid!, sig)
      else p.kill(sig)
    } catch {}
  }
  kill('SIGTERM')
  const t = setTimeout(() => kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(t)
}

// ---- Chromium, and a raw CDP connection beside playwright's ------------------------------------------

/** Raw CDP: results and event params are whatever the protocol method returns (see its docs). */
// biome-ignore lint/suspicious/noExplicitAny: untyped protocol payloads
export type Json = any
type CdpMsg = {
  id?: number
  method?: string
  params?: Json
  result?: Json
  error?: { message: string; code: number }
  sessionId?: string
}

export class Cdp {
  private id = 0
  private readonly pending = new Map<number, { res: (v: Json) => void; rej: (e: Error) => void }>()
  private readonly listeners = new Set<(m: CdpMsg) => void>()
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as CdpMsg
      if (m.id !== undefined) {
        const p = this.pending.get(m.id)
        this.pending.delete(m.id)
        if (m.error) p?.rej(new Error(`${m.error.message} (${m.error.code})`))
        else p?.res(m.result)
      } else for (const l of this.listeners) l(m)
    })
    ws.on('close', () => {
      for (const p of this.pending.values()) p.rej(new Error('CDP connection closed'))
      this.pending.clear()
    })
  }
  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1024 * MB })
      ws.once('open', () => resolve(new Cdp(ws)))
      ws.once('error', reject)
    })
  }
  /** `timeoutMs`: a target that never answers (a worker gone without a detach event) fails the call. */
  send(method: string, params: object = {}, sessionId?: string, timeoutMs = 0): Promise<Json> {
    const id = ++this.id
    return new Promise((res, rej) => {
      const t = timeoutMs
        ? setTimeout(() => {
            this.pending.delete(id)
            rej(new Error(`CDP ${method} not answered in ${timeoutMs} ms`))
          }, timeoutMs)
        : undefined
      this.pending.set(id, {
        res: (v) => {
          clearTimeout(t)
          res(v)
        },
        rej: (e) => {
          clearTimeout(t)
          rej(e)
        },
      })
      this.ws.send(JSON.stringify({ id, method, params, sessionId }))
    })
  }
  on(fn: (m: CdpMsg) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }
  close(): void {
    this.ws.close()
  }
}

export interface Chrome {
  proc: ChildProcess
  profileDir: string
  browser: Browser
  context: BrowserContext
  cdp: Cdp
  version: string
  close(): Promise<void>
}

export async function launchChrome(tmp: string): Promise<Chrome> {
  const profileDir = mkdtempSync(join(tmp, 'chromium-'))
  const proc = spawn(
    chromiumPath(),
    [
      '--headless',
      '--remote-debugging-port=0',
      `--user-data-dir=${profileDir}`,
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  )
  started.add(proc)
  proc.once('exit', () => started.delete(proc))
  const ws = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('Chromium did not start in 30 s')), 30_000)
    proc.once('exit', (c) => reject(new Error(`Chromium exited with ${c}`)))
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(l)
      if (m) {
        clearTimeout(t)
        resolve(m[1]!)
      }
    })
  })
  const browser = await chromium.connectOverCDP(ws)
  const context = browser.contexts()[0]!
  const cdp = await Cdp.connect(ws)
  return {
    proc,
    profileDir,
    browser,
    context,
    cdp,
    version: browser.version(),
    async close() {
      cdp.close()
      await browser.close().catch(() => {})
      await stopProc(proc, true)
      rmSync(profileDir, { recursive: true, force: true })
    },
  }
}

/** The profile's page, with the page's console errors and uncaught exceptions on stderr. */
export async function firstPage(c: Chrome): Promise<Page> {
  const page = c.context.pages()[0] ?? (await c.context.newPage())
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') note(`  [page ${m.type()}] ${m.text()}`)
  })
  page.on('pageerror', (e) => note(`  [page error] ${e.message}`))
  page.on('worker', (w) =>
    w.on('console', (m) => m.type() === 'error' && note(`  [worker error] ${m.text()}`)),
  )
  return page
}

/** A worker target of the app, attached with a flat session. */
export interface WorkerTarget {
  sid: string
  targetId: string
  type: 'worker' | 'shared_worker' | 'service_worker'
  url: string
  /** Set once its session detached (the worker ended). */
  ended: boolean
}

const WORKER_TYPES = new Set(['worker', 'shared_worker', 'service_worker'])

/** The short name of a worker for reports: its type and script file. */
export const workerName = (w: WorkerTarget): string =>
  `${w.type} ${basename(w.url.split('?')[0] ?? '') || '?'}`

/**
 * Attaches to every worker the browser starts from now on (and those already running): browser-level
 * auto-attach finds pages, shared and service workers; the same request on each page and worker
 * session finds their dedicated (and nested) workers. `onWorker` runs before a paused worker
 * (`pause`: waitForDebuggerOnStart) is resumed, so a profiler it starts sees the worker's first line.
 */
export async function watchWorkers(
  cdp: Cdp,
  onWorker: (w: WorkerTarget) => Promise<void> | void,
  pause = false,
): Promise<{ workers: WorkerTarget[]; stop(): void }> {
  const workers: WorkerTarget[] = []
  const auto = { autoAttach: true, waitForDebuggerOnStart: pause, flatten: true }
  const attached = async (p: Json): Promise<void> => {
    const sid: string = p.sessionId
    const info = p.targetInfo as { targetId: string; type: string; url: string }
    const resume = (): Promise<unknown> =>
      p.waitingForDebugger ? cdp.send('Runtime.runIfWaitingForDebugger', {}, sid) : Promise.resolve()
    // One target can be attached along several paths (a service worker from the browser and from
    // its page): counted once, by target id, or its heap would be summed twice.
    const known = workers.some((w) => w.targetId === info.targetId && !w.ended)
    if (WORKER_TYPES.has(info.type) && !known) {
      const w: WorkerTarget = {
        sid,
        targetId: info.targetId,
        type: info.type as WorkerTarget['type'],
        url: info.url,
        ended: false,
      }
      workers.push(w)
      await cdp.send('Target.setAutoAttach', auto, sid).catch(() => {})
      await onWorker(w)
    } else if (info.type === 'page') {
      await cdp.send('Target.setAutoAttach', auto, sid).catch(() => {})
    }
    await resume()
  }
  const off = cdp.on((m) => {
    if (m.method === 'Target.attachedToTarget')
      attached(m.params).catch((e) => note(`  [cdp] attaching ${m.params.targetInfo?.type}: ${e}`))
    else if (m.method === 'Target.detachedFromTarget')
      for (const w of workers) if (w.sid === m.params.sessionId) w.ended = true
  })
  await cdp.send('Target.setAutoAttach', auto)
  return { workers, stop: off }
}

/** A flat session on the page's own target (for its profiler). */
export async function pageSession(c: Chrome, page: Page): Promise<string> {
  const s = await c.context.newCDPSession(page)
  const { targetInfo } = (await s.send('Target.getTargetInfo')) as { targetInfo: { targetId: string } }
  await s.detach()
  const { sessionId } = await c.cdp.send('Target.attachToTarget', {
    targetId: targetInfo.targetId,
    flatten: true,
  })
  return sessionId
}

/**
 * Samples the JS heap of every live worker every 100 ms (Runtime.getHeapUsage on each worker's
 * session): the peak of their sum is the figure against the goal; each worker's own peak is kept too.
 */
export class HeapWatch {
  peakUsed = 0
  peakTotal = 0
  peakBacking = 0
  samples = 0
  errors = 0
  /** Peak used bytes per worker (by `workerName`). */
  readonly perWorker = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null
  private busy = false
  constructor(
    private readonly cdp: Cdp,
    private readonly workers: WorkerTarget[],
  ) {}
  start(): void {
    this.timer = setInterval(() => {
      const live = this.workers.filter((w) => !w.ended)
      if (!live.length || this.busy) return
      this.busy = true
      type Usage = { usedSize: number; totalSize: number; backingStorageSize?: number }
      Promise.all(
        live.map((w) =>
          this.cdp.send('Runtime.getHeapUsage', {}, w.sid).then(
            (r: Usage) => {
              const name = workerName(w)
              this.perWorker.set(name, Math.max(this.perWorker.get(name) ?? 0, r.usedSize))
              return r
            },
            () => {
              this.errors++
              return null
            },
          ),
        ),
      )
        .then((rs) => {
          const got = rs.filter((r): r is Usage => r !== null)
          if (!got.length) return
          this.samples++
          const sum = (f: (r: Usage) => number): number => got.reduce((a, r) => a + f(r), 0)
          this.peakUsed = Math.max(
            this.peakUsed,
            sum((r) => r.usedSize),
          )
          this.peakTotal = Math.max(
            this.peakTotal,
            sum((r) => r.totalSize),
          )
          this.peakBacking = Math.max(
            this.peakBacking,
            sum((r) => r.backingStorageSize ?? 0),
          )
        })
        .finally(() => (this.busy = false))
    }, 100)
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }
  /** Figures in MB, with each worker's own peak. */
  figures(): HeapFigures {
    return {
      peakUsedMB: this.peakUsed / MB,
      peakTotalMB: this.peakTotal / MB,
      peakBackingMB: this.peakBacking / MB,
      samples: this.samples,
      perWorkerMB: Object.fromEntries([...this.perWorker].map(([k, v]) => [k, v / MB])),
    }
  }
}

export interface HeapFigures {
  /** Peak of the sum over every live worker. */
  peakUsedMB: number
  peakTotalMB: number
  peakBackingMB: number
  samples: number
  perWorkerMB: Record<string, number>
}

/** Installed before any page script: every long task of the page's main thread, [startTime, ms]. */
export const LONGTASK_INIT = `(() => {
  window.__longtasks = []
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.__longtasks.push([e.startTime, e.duration])
    }).observe({ type: 'longtask', buffered: true })
  } catch (e) { window.__longtasks = null }
})()`
