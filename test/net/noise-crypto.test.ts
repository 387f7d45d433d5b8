import { pureJsCrypto } from '@libp2p/noise'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { beforeAll, describe, expect, it } from 'vitest'
import { browserNoiseCrypto, loadWasmNoiseCrypto, NoiseDecryptError } from '../../src/net/noise-crypto.ts'

type Crypto = Awaited<ReturnType<typeof loadWasmNoiseCrypto>>

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (b) => parseInt(b, 16))
const bytes = (c: Uint8Array | Uint8ArrayList): Uint8Array => c.subarray()
/** Byte equality without vitest's element-by-element deep equality (slow on 200 kB arrays). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

// RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 example.
const RFC = {
  key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: hex('070000004041424344454647'),
  ad: hex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ciphertext: hex(`
    d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6 3dbea45e8ca9671282fafb69da92728b
    1a71de0a9e060b2905d6a5b67ecd3b36 92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b 6116`),
  tag: hex('1ae10b594f09e26a7e902ecbd0600691'),
}

let wasm: Crypto
beforeAll(async () => {
  wasm = await loadWasmNoiseCrypto()
})

const impls = (): [string, Crypto][] => [
  ['wasm', wasm],
  ['js', pureJsCrypto],
]

describe('noise crypto: WASM ChaCha20-Poly1305', () => {
  it('matches the RFC 8439 §2.8.2 vector, sealing and opening, like the JS implementation', () => {
    for (const [name, c] of impls()) {
      const sealed = bytes(c.chaCha20Poly1305Encrypt(RFC.plaintext, RFC.nonce, RFC.ad, RFC.key))
      expect(sealed.subarray(0, -16), name).toEqual(RFC.ciphertext)
      expect(sealed.subarray(-16), name).toEqual(RFC.tag)
      const opened = c.chaCha20Poly1305Decrypt(sealed, RFC.nonce, RFC.ad, RFC.key)
      expect(bytes(opened), name).toEqual(RFC.plaintext)
    }
  })

  it('gives the same ciphertext and tag as the JS implementation, and each opens the other', () => {
    const input = fc.record({
      key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
      // noise's associated data: empty for transport frames, the 32-byte handshake hash otherwise.
      ad: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 32, maxLength: 32 })),
      plaintext: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    })
    fc.assert(
      fc.property(input, ({ key, nonce, ad, plaintext }) => {
        const w = bytes(wasm.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))
        const j = bytes(pureJsCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))
        expect(w).toEqual(j)
        expect(bytes(wasm.chaCha20Poly1305Decrypt(j, nonce, ad, key))).toEqual(plaintext)
        expect(bytes(pureJsCrypto.chaCha20Poly1305Decrypt(w, nonce, ad, key))).toEqual(plaintext)
      }),
      { numRuns: 200 },
    )
  })

  it('handles noise’s largest frame and inputs longer than the WASM buffer (64 KiB) like the JS one', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
    const nonce = Uint8Array.from({ length: 12 }, (_, i) => i)
    for (const size of [65_519, 65_536, 65_537, 200_000]) {
      const plaintext = Uint8Array.from({ length: size }, (_, i) => (i * 131) & 0xff)
      const w = bytes(wasm.chaCha20Poly1305Encrypt(plaintext, nonce, new Uint8Array(0), key))
      const j = bytes(pureJsCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, new Uint8Array(0), key))
      expect(same(w, j), `${size} B: same ciphertext and tag`).toBe(true)
      expect(same(bytes(wasm.chaCha20Poly1305Decrypt(w, nonce, new Uint8Array(0), key)), plaintext)).toBe(
        true,
      )
    }
  })

  it('takes Uint8ArrayList plaintext and ciphertext, and opens in place into noise’s dst', () => {
    const { key, nonce, ad, plaintext } = RFC
    const list = new Uint8ArrayList(
      plaintext.subarray(0, 7),
      plaintext.subarray(7, 64),
      plaintext.subarray(64),
    )
    const sealed = bytes(wasm.chaCha20Poly1305Encrypt(list, nonce, ad, key))
    expect(sealed).toEqual(new Uint8Array([...RFC.ciphertext, ...RFC.tag]))
    const sealedList = new Uint8ArrayList(sealed.subarray(0, 50), sealed.subarray(50))
    expect(bytes(wasm.chaCha20Poly1305Decrypt(sealedList, nonce, ad, key))).toEqual(plaintext)
    // noise decrypts a frame into its own bytes (dst = the ciphertext without its tag).
    const frame = sealed.slice()
    const dst = frame.subarray(0, frame.length - 16)
    const opened = wasm.chaCha20Poly1305Decrypt(frame, nonce, ad, key, dst)
    expect(bytes(opened)).toEqual(plaintext)
    expect(dst).toEqual(plaintext)
  })

  it('rejects a tampered tag, ciphertext, associated data or nonce, and a frame shorter than a tag', () => {
    const { key, nonce, ad, plaintext } = RFC
    const sealed = bytes(wasm.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))
    const flip = (b: Uint8Array, i: number): Uint8Array => {
      const c = b.slice()
      c[i] = (c[i] ?? 0) ^ 1
      return c
    }
    const forged: [string, (c: Crypto) => unknown][] = [
      ['tag', (c) => c.chaCha20Poly1305Decrypt(flip(sealed, sealed.length - 1), nonce, ad, key)],
      ['ciphertext', (c) => c.chaCha20Poly1305Decrypt(flip(sealed, 0), nonce, ad, key)],
      ['associated data', (c) => c.chaCha20Poly1305Decrypt(sealed, nonce, flip(ad, 3), key)],
      ['nonce', (c) => c.chaCha20Poly1305Decrypt(sealed, flip(nonce, 11), ad, key)],
      ['key', (c) => c.chaCha20Poly1305Decrypt(sealed, nonce, ad, flip(key, 0))],
      ['truncated', (c) => c.chaCha20Poly1305Decrypt(sealed.subarray(0, 15), nonce, ad, key)],
      ['a zero tag alone', (c) => c.chaCha20Poly1305Decrypt(new Uint8Array(16), nonce, ad, key)],
    ]
    for (const [what, open] of forged) {
      expect(() => open(wasm), what).toThrow(
        expect.objectContaining({ name: 'NoiseDecryptError', code: 'NOISE_DECRYPT_FAILED' }),
      )
      // The JS implementation refuses the same frames: same verdicts.
      expect(() => open(pureJsCrypto), `${what} (js)`).toThrow()
    }
  })

  it('refuses to write a rejected frame’s plaintext into dst', () => {
    const { key, nonce, ad, plaintext } = RFC
    const frame = bytes(wasm.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)).slice()
    frame[frame.length - 1]! ^= 0x80
    const dst = new Uint8Array(plaintext.length)
    expect(() => wasm.chaCha20Poly1305Decrypt(frame, nonce, ad, key, dst)).toThrow(NoiseDecryptError)
    expect(dst).toEqual(new Uint8Array(plaintext.length))
    // In place, as noise does it: the frame's bytes hold no unauthenticated plaintext afterwards.
    const inPlace = frame.subarray(0, frame.length - 16)
    expect(() => wasm.chaCha20Poly1305Decrypt(frame, nonce, ad, key, inPlace)).toThrow(NoiseDecryptError)
    expect(inPlace).toEqual(new Uint8Array(plaintext.length))
  })

  it('keeps noise’s JS X25519, SHA-256 and HKDF (only the AEAD changes)', () => {
    expect(wasm.hashSHA256).toBe(pureJsCrypto.hashSHA256)
    expect(wasm.getHKDF).toBe(pureJsCrypto.getHKDF)
    expect(wasm.generateX25519KeyPair).toBe(pureJsCrypto.generateX25519KeyPair)
    expect(wasm.generateX25519KeyPairFromSeed).toBe(pureJsCrypto.generateX25519KeyPairFromSeed)
    expect(wasm.generateX25519SharedKey).toBe(pureJsCrypto.generateX25519SharedKey)
  })
})

describe('browserNoiseCrypto', () => {
  it('chooses WASM where WebAssembly compiles', async () => {
    const { name, crypto } = await browserNoiseCrypto()
    expect(name).toBe('wasm')
    expect(
      bytes(crypto.chaCha20Poly1305Encrypt(RFC.plaintext, RFC.nonce, RFC.ad, RFC.key)).subarray(-16),
    ).toEqual(RFC.tag)
  })

  it('falls back to noise’s JS crypto when WebAssembly is forbidden (a CSP without wasm-unsafe-eval)', async () => {
    const cspRefusal = async (): Promise<never> => {
      throw new WebAssembly.CompileError('WebAssembly.Module(): violates the Content Security Policy')
    }
    const { name, crypto, fallbackReason } = await browserNoiseCrypto(cspRefusal)
    expect(name).toBe('js')
    expect(crypto).toBe(pureJsCrypto)
    expect(fallbackReason).toContain('Content Security Policy')
  })
})
