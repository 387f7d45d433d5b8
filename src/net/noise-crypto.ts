/**
 * The crypto behind the browser worker's Noise channel, with ChaCha20-Poly1305 in WebAssembly.
 *
 * @libp2p/noise's browser build does every transport frame's AEAD in @noble/ciphers (pure JS): 11% of
 * the sync worker's busy time in the issue-14 profile. This swaps only that AEAD for
 * @chainsafe/as-chacha20poly1305 (AssemblyScript, the same code @libp2p/noise's own Node build uses
 * for frames under 1,200 B); X25519, SHA-256 and HKDF stay noise's JS ones (`pureJsCrypto`, reused,
 * not copied). CPU per frame in a dedicated worker of headless Chromium 156 (`npm run bench:noise`, two
 * runs of 3): 1.18–1.20× faster on noise's largest frame (65,519 B), 1.2–1.7× on 1.2–16 KB frames,
 * 2.5–5.5× on ≤256 B ones; on the frame mix a sync's client sees, ~30% less AEAD CPU.
 *
 * Security considerations:
 * - Same construction (RFC 8439 ChaCha20-Poly1305), same keys and nonces chosen by noise: both
 *   implementations give identical ciphertext and tag, checked against the RFC vector and each other
 *   on random inputs (test/net/noise-crypto.test.ts). A frame whose tag does not verify throws
 *   `NoiseDecryptError` and noise aborts the connection; no plaintext of it is returned, and what the
 *   WASM wrote into noise's `dst` before checking the tag is wiped.
 * - The WASM tag check compares bytes with an early exit (not constant time). That cannot be used as
 *   a forgery oracle here: noise aborts the connection at the first frame that fails, so an attacker
 *   gets one guess per session key (keys come from fresh ephemeral X25519 per connection), while a
 *   timing attack needs many guesses against the same key.
 * - One WASM instance is shared by every connection of the worker. Calls are synchronous and JS is
 *   single-threaded, so two frames never interleave in its buffers; results are copied out of WASM
 *   memory into fresh arrays (or noise's `dst`) before return. Key and last frame stay in the
 *   worker's WASM memory, as they stay in its JS heap with the JS implementation.
 * - WebAssembly is optional: a page whose Content-Security-Policy forbids it (no 'wasm-unsafe-eval')
 *   fails the module's compile, and `browserNoiseCrypto` then keeps noise's JS crypto — slower, equally
 *   secure. The package compiles its module when imported, so it is imported dynamically, in a try.
 */
import { type ICryptoInterface, pureJsCrypto } from '@libp2p/noise'
import { RootsyncError } from '../core/errors.ts'

/** Poly1305 tag length (RFC 8439 §2.5). */
const TAG_LENGTH = 16

/** A Noise frame whose Poly1305 tag does not match: tampered, truncated or sent under another key. */
export class NoiseDecryptError extends RootsyncError {
  constructor(length: number) {
    super('NOISE_DECRYPT_FAILED', `noise frame of ${length} B failed authentication`, { length })
    this.name = 'NoiseDecryptError'
  }
}

export type NoiseCryptoName = 'wasm' | 'js'

/**
 * noise's JS crypto with ChaCha20-Poly1305 in WebAssembly. Rejects when WebAssembly cannot be compiled
 * (a CSP without 'wasm-unsafe-eval', or no WebAssembly at all).
 */
export async function loadWasmNoiseCrypto(): Promise<ICryptoInterface> {
  const { ChaCha20Poly1305, newInstance } = await import('@chainsafe/as-chacha20poly1305')
  const aead = new ChaCha20Poly1305(newInstance())
  return {
    ...pureJsCrypto,
    chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
      return aead.seal(k, nonce, plaintext.subarray(), ad)
    },
    chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
      const sealed = ciphertext.subarray()
      // Shorter than a tag: nothing to authenticate (the WASM wrapper would read a negative range).
      if (sealed.byteLength < TAG_LENGTH) throw new NoiseDecryptError(sealed.byteLength)
      const plaintext = aead.open(k, nonce, sealed, ad, dst)
      if (plaintext === null) {
        // The WASM wrapper decrypts into `dst` before it checks the tag: wipe that unauthenticated
        // plaintext, so a rejected frame leaves nothing readable behind (noise's JS checks first).
        dst?.fill(0)
        throw new NoiseDecryptError(sealed.byteLength)
      }
      return plaintext
    },
  }
}

/**
 * The browser's noise crypto: WASM ChaCha20-Poly1305 where the page allows WebAssembly, else noise's
 * JS crypto, with why WASM failed. `load` is for tests (a loader that fails stands for a CSP that forbids
 * WebAssembly).
 */
export async function browserNoiseCrypto(
  load: () => Promise<ICryptoInterface> = loadWasmNoiseCrypto,
): Promise<{ crypto: ICryptoInterface; name: NoiseCryptoName; fallbackReason?: string }> {
  try {
    return { crypto: await load(), name: 'wasm' }
  } catch (err) {
    return { crypto: pureJsCrypto, name: 'js', fallbackReason: String(err) }
  }
}
