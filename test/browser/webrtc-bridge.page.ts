/**
 * Test and benchmark page for the WebRTC bridge: starts the test worker, loads the bridge lazily (as
 * the app does), bridges the peers from /config.json to the worker, and exposes `window.__rt` for
 * the test to drive the worker and read the bridge's events, stats and the main thread's long tasks.
 */
import type { PeerInfo } from '../../src/api/worker-protocol.ts'
import type { BridgeEvent, WebRtcBridge } from '../../src/page/webrtc-bridge.ts'
import type { Cmd } from './webrtc-bridge.worker.ts'

interface Config {
  peers: PeerInfo[]
  timeoutMs: number
  wasm: boolean
}

interface Reply {
  type: 'reply' | 'progress'
  id: number
  ok?: boolean
  value?: unknown
  error?: unknown
}

const longTasks: { start: number; duration: number }[] = []
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration })
  }).observe({ type: 'longtask', buffered: true })
} catch {}

async function main(): Promise<void> {
  const config = (await (await fetch('/config.json')).json()) as Config
  const worker = new Worker(new URL('./webrtc-bridge.worker.ts', import.meta.url), { type: 'module' })
  worker.postMessage({ type: 'config', timeoutMs: config.timeoutMs, wasm: config.wasm })
  let next = 1
  const waiting = new Map<number, (r: Reply) => void>()
  const progress: Record<number, unknown[]> = {}
  worker.onmessage = (ev: MessageEvent<Reply>) => {
    const r = ev.data
    if (r.type === 'progress') (progress[r.id] ??= []).push(r.value)
    else waiting.get(r.id)?.(r)
  }
  const events: (BridgeEvent & { at: number })[] = []
  const t0 = performance.now()
  const { bridgeWebRtcPeers } = await import('../../src/page/webrtc-bridge.ts')
  const bridge: WebRtcBridge = await bridgeWebRtcPeers(config.peers, worker, {
    allowLocal: true,
    onEvent: (e) => events.push({ ...e, at: performance.now() }),
  })
  const w = window as unknown as Record<string, unknown>
  w.__rt = {
    bridgeMs: performance.now() - t0,
    events,
    longTasks,
    progress,
    stats: () => bridge.stats(),
    close: () => bridge.close(),
    /** Starts a worker command; returns its id (poll `result(id)`), so the test can act meanwhile. */
    start(cmd: Cmd): number {
      const id = next++
      done.set(
        id,
        new Promise<Reply>((r) => waiting.set(id, r)).then((r) => {
          results[id] = r
          return r
        }),
      )
      worker.postMessage({ type: 'cmd', id, cmd })
      return id
    },
    result: (id: number) => results[id],
    cmd(cmd: Cmd): Promise<Reply> {
      return done.get((w.__rt as { start(c: Cmd): number }).start(cmd))!
    },
  }
  w.__ready = true
}

const results: Record<number, Reply> = {}
const done = new Map<number, Promise<Reply>>()
main().catch((e) => {
  ;(window as unknown as Record<string, unknown>).__error = String((e as Error)?.stack ?? e)
})
