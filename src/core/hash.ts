/**
 * keccak-256 behind one function, so the implementation can change without touching callers.
 *
 * The default is @noble/hashes (pure JS, audited, synchronous from the first call). `useWasmKeccak()`
 * swaps in hash-wasm's WebAssembly keccak, measured 9–12× faster on ~300 B trie nodes here
 * (`npm run bench:core`). WASM needs an async instantiation, so it is opt-in: call and await it once at
 * start-up in the hot processes (serving node, sync worker); everything before that still works.
 * Both produce identical digests; the test suite checks that on random inputs.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'

export type HashFn = (data: Uint8Array) => Uint8Array

const nobleKeccak: HashFn = (data) => keccak_256(data)
let impl: HashFn = nobleKeccak
let implName: 'noble' | 'wasm' = 'noble'

export function keccak256(data: Uint8Array): Uint8Array {
  return impl(data)
}

export function keccakImplementation(): 'noble' | 'wasm' {
  return implName
}

/** Loads hash-wasm's keccak and makes it the implementation of `keccak256`. Idempotent. */
export async function useWasmKeccak(): Promise<void> {
  if (implName === 'wasm') return
  const { createKeccak } = await import('hash-wasm')
  const hasher = await createKeccak(256)
  impl = (data) => {
    hasher.init()
    hasher.update(data)
    return hasher.digest('binary')
  }
  implName = 'wasm'
}

/** Restores the pure-JS implementation (tests and benchmarks compare the two). */
export function useNobleKeccak(): void {
  impl = nobleKeccak
  implName = 'noble'
}

export { nobleKeccak }
