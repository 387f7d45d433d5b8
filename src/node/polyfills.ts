/**
 * Node 20 lacks `Promise.withResolvers` (Node 22 has it), which libp2p 3 uses, and a global
 * `WebSocket`, which @libp2p/websockets dials with. Imported first by every Node entry point. The
 * `ws` package is used rather than Node's experimental client (measured 5–7 MB/s upload on this project's machine).
 */
import { WebSocket as WsWebSocket } from 'ws'

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (v: T | PromiseLike<T>) => void
      let reject!: (e?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

if (typeof globalThis.WebSocket === 'undefined') {
  ;(globalThis as { WebSocket?: unknown }).WebSocket = WsWebSocket
}
