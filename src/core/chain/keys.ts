/**
 * secp256k1 keys, signatures and addresses (via @noble/curves). Signatures are 65 bytes r ‖ s ‖ v
 * (v = recovery bit 0/1) over a 32-byte digest; addresses are the last 20 bytes of keccak of the
 * uncompressed public key, as in Ethereum. Recovery rejects malformed and high-s signatures.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { keccak256 } from '../hash.ts'

export function addressOf(privateKey: Uint8Array): Uint8Array {
  return addressOfPublicKey(secp256k1.getPublicKey(privateKey, false))
}

function addressOfPublicKey(uncompressed: Uint8Array): Uint8Array {
  return keccak256(uncompressed.subarray(1)).slice(12)
}

export function sign(digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
  const rec = secp256k1.sign(digest, privateKey, { prehash: false, format: 'recovered' })
  // noble's 'recovered' format is v ‖ r ‖ s; ours is r ‖ s ‖ v.
  const out = new Uint8Array(65)
  out.set(rec.subarray(1), 0)
  out[64] = rec[0]!
  return out
}

/** The signer's address, or `null` if the signature is malformed or does not recover. */
export function recoverAddress(digest: Uint8Array, signature: Uint8Array): Uint8Array | null {
  if (signature.length !== 65 || signature[64]! > 1) return null
  const rec = new Uint8Array(65)
  rec[0] = signature[64]!
  rec.set(signature.subarray(0, 64), 1)
  try {
    const pub = secp256k1.recoverPublicKey(rec, digest, { prehash: false })
    return addressOfPublicKey(secp256k1.Point.fromBytes(pub).toBytes(false))
  } catch {
    return null
  }
}
