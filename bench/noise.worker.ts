/**
 * The measured loop of `npm run bench:noise`, shared by Node and a dedicated worker of headless
 * Chromium (this file is the worker's entry, bundled by esbuild; in Node it only exports).
 *
 * One "frame" is what noise does per transport message in each direction of a connection: seal the
 * plaintext, then open it in place (noise decrypts into the ciphertext's own bytes, `dst`).
 */
import { type ICryptoInterface, pureJsCrypto } from '@libp2p/noise'
import { browserNoiseCrypto, loadWasmNoiseCrypto } from '../src/net/noise-crypto.ts'

export type ImplName = 'js' | 'wasm'

export const impls = async (): Promise<Record<ImplName, ICryptoInterface>> => ({
  js: pureJsCrypto,
  wasm: await loadWasmNoiseCrypto(),
})

/** Seals and opens `frames` frames of `size` plaintext bytes; throws if a round trip differs. */
export function runFrames(crypto: ICryptoInterface, size: number, frames: number): void {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 1)
  const nonce = new Uint8Array(12)
  const ad = new Uint8Array(0)
  const plaintext = new Uint8Array(size).map((_, i) => i * 31)
  let check = 0
  for (let i = 0; i < frames; i++) {
    nonce[0] = i & 0xff
    nonce[1] = (i >>> 8) & 0xff
    const sealed = crypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key).subarray()
    const opened = crypto.chaCha20Poly1305Decrypt(sealed, nonce, ad, key, sealed.subarray(0, size)).subarray()
    check ^= opened[size - 1] ?? 0
  }
  if (check !== (frames % 2 === 1 ? (plaintext[size - 1] ?? 0) : 0)) throw new Error('round trip differs')
}

export type ToNoiseWorker = { type: 'run'; impl: ImplName; size: number; frames: number } | { type: 'probe' }
export type FromNoiseWorker =
  | { type: 'done' }
  | { type: 'probe'; chosen: string; wasmError: string | null }
  | { type: 'error'; message: string }

interface WorkerScope {
  onmessage: ((e: MessageEvent<ToNoiseWorker>) => void) | null
  postMessage(m: FromNoiseWorker): void
}

const scope = globalThis as unknown as WorkerScope & { WorkerGlobalScope?: unknown }
if (scope.WorkerGlobalScope !== undefined) {
  const loaded = impls().catch(() => null)
  scope.onmessage = async (e) => {
    const m = e.data
    try {
      if (m.type === 'probe') {
        // What the app's worker would pick on this page, and why WASM failed if it did.
        const { name } = await browserNoiseCrypto()
        const wasmError = await loadWasmNoiseCrypto().then(
          () => null,
          (err: unknown) => String(err),
        )
        scope.postMessage({ type: 'probe', chosen: name, wasmError })
        return
      }
      const all = await loaded
      if (all === null) throw new Error('WebAssembly is not available in this worker')
      runFrames(all[m.impl], m.size, m.frames)
      scope.postMessage({ type: 'done' })
    } catch (err) {
      scope.postMessage({ type: 'error', message: String(err) })
    }
  }
}
