/**
 * Verified code: the account is proven first (as `getAccount`, verified-reads.ts), then its code is
 * fetched by the code hash that proof commits to — from the local store when the state under that
 * root is complete in it, else from peers (code is served by hash like trie nodes) — and accepted
 * only if keccak256(code) equals that hash (core/chain/header-link.ts `codeMatches`).
 *
 * Security considerations: a peer whose code does not hash to the proven code hash is charged like
 * a bad proof and the next one asked; a peer that lacks it is only skipped. A local entry that does
 * not match flags the local state for repair, like any damaged node a local read meets.
 */
import type { BlockTag, CodeAnswer } from '../api/worker-protocol.ts'
import { EMPTY_CODE_HASH } from '../core/account.ts'
import { equals, toHex } from '../core/bytes.ts'
import { codeMatches } from '../core/chain/header-link.ts'
import { RootsyncError } from '../core/errors.ts'
import { parseBlockTag } from './block-reads.ts'
import { ask, peersFor } from './read-peers.ts'
import { parseAddress, type ReadContext, read } from './verified-reads.ts'

/** Code by its hash from peers, in turn, until one sends code that hashes to it (NO_VALID_CODE). */
async function codeFromPeers(ctx: ReadContext, codeHash: Uint8Array, stop?: AbortSignal) {
  const errors: string[] = []
  for (const p of await peersFor(ctx.peers, stop)) {
    const r = await ask((signal) => p.client.nodes([codeHash], signal), stop)
    if (!r.ok) {
      errors.push(`${p.view.name}: ${r.error.message}`)
      continue
    }
    const code = r.value[0]
    if (!code?.length) {
      errors.push(`${p.view.name}: does not have it`)
      continue
    }
    if (codeMatches(codeHash, code)) return { code, peer: p.view.name }
    ctx.peers.charge(p, 'bad', `code that does not hash to ${toHex(codeHash)}`)
    errors.push(`${p.view.name}: sent code that does not match its hash`)
  }
  throw new RootsyncError(
    'NO_VALID_CODE',
    errors.length
      ? `no peer gave the code of hash ${toHex(codeHash)}: ${errors.join('; ')}`
      : 'no connected peer to ask for code',
  )
}

export async function getCode(
  ctx: ReadContext,
  addressHex: string,
  signal?: AbortSignal,
  block?: BlockTag,
): Promise<CodeAnswer> {
  const t = performance.now()
  const address = parseAddress(addressHex)
  const r = await read(ctx, address, [], signal, parseBlockTag(block))
  const codeHash = r.v.account?.codeHash ?? EMPTY_CODE_HASH
  const answer = (code: Uint8Array, source: CodeAnswer['source'], peer?: string): CodeAnswer => ({
    address: toHex(address),
    code: toHex(code),
    codeHash: toHex(codeHash),
    source,
    peer,
    header: r.header,
    ms: performance.now() - t,
  })
  if (equals(codeHash, EMPTY_CODE_HASH)) return answer(new Uint8Array(0), r.source, r.peer)
  const local = ctx.localState(r.root)
  if (local) {
    const code = await local.getNode(codeHash)
    if (code && codeMatches(codeHash, code)) return answer(code, 'local')
    await ctx.damaged({ reason: code ? 'corrupt-node' : 'missing-node', hash: toHex(codeHash) })
  }
  const got = await codeFromPeers(ctx, codeHash, signal)
  return answer(got.code, 'proof', got.peer)
}
