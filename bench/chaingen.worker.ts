/**
 * bench/chaingen.ts's signing thread: signs a slice of header digests, each with the keys of its
 * block's validator set (the producer signs each block with all of its validators). Input and output are flat byte
 * arrays, transferred, so the thread costs no copying: 32 bytes per digest in, 65 bytes per
 * signature out, in the order (digest, key).
 */
import { parentPort, workerData } from 'node:worker_threads'
import { sign } from '../src/core/chain/keys.ts'

const { digests, signers, v, keys } = workerData as {
  digests: Uint8Array
  signers: Uint32Array
  v: number
  keys: Uint8Array[]
}
const count = digests.length / 32
const out = new Uint8Array(count * v * 65)
for (let i = 0; i < count; i++) {
  const digest = digests.subarray(i * 32, i * 32 + 32)
  for (let k = 0; k < v; k++) out.set(sign(digest, keys[signers[i * v + k]!]!), (i * v + k) * 65)
}
parentPort!.postMessage(out, [out.buffer])
