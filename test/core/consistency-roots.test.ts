/**
 * The state-root part of the consistency check (src/core/consistency/roots.ts) with fake peers that
 * answer `/rootsync/root/1` through the real reply codec, a manual clock and the session ledger: a
 * lying majority is charged and changes nothing, a second header with a valid quorum is equivocation
 * evidence naming exactly the double signers, peers lacking the height are not charged, a stalled
 * peer is a failure, garbage and a header at another height get the peer banned. Under validator
 * rotation, peers' headers are verified against the set the local verified header names: a header
 * naming another set is charged, never evidence, and evidence at a rotated height carries and is
 * verified against that height's set.
 */
import { describe, expect, it, vi } from 'vitest'
import { fromHex, toHex } from '../../src/core/bytes.ts'
import { decodeSignedHeader, headerHash, type SignedHeader } from '../../src/core/chain/header.ts'
import { manualClock } from '../../src/core/clock.ts'
import { verifyEvidence } from '../../src/core/consistency/records.ts'
import { checkRoots, doubleSigners, type RootCheckDeps } from '../../src/core/consistency/roots.ts'
import type { LightEvent } from '../../src/core/light/events.ts'
import { createLedger, type LightPeer } from '../../src/core/light/peers.ts'
import { PeerFailure } from '../../src/core/peers/failure.ts'
import * as wire from '../../src/core/protocol/messages.ts'
import {
  CHAIN_ID,
  checkpoint,
  genesis,
  headerAt,
  lightBlock,
  rotatedHeaderAt,
  rotatedValidators,
  signBy,
  signByRotated,
  trusted,
  validators,
} from '../helpers/forked-headers.ts'

const H = 12
const QUORUM_A = [0, 1, 2, 3, 4]
const local = signBy(headerAt(H), QUORUM_A)

const never = <T>() => new Promise<T>(() => {})
const unused = () => Promise.reject(new Error('not asked in a root check'))

/** A peer whose root reply is these bytes (decoded by the real codec), or an answer of its own. */
function peer(id: string, answer: Uint8Array | ((height: number) => Promise<SignedHeader>)): LightPeer {
  const root = typeof answer === 'function' ? answer : async () => wire.decodeRootResponse(answer)
  return {
    id,
    wire: { status: unused, headers: unused, nodes: unused, proof: unused, blocks: unused, root },
  }
}
const serving = (id: string, s: SignedHeader) => peer(id, wire.encodeRootResponse(s))

function setup(peers: LightPeer[], header: RootCheckDeps['header'] = trusted(local)) {
  const events: LightEvent[] = []
  const ledger = createLedger((e) => events.push(e))
  const clock = manualClock()
  const deps: RootCheckDeps = {
    checkpoint,
    header,
    peers,
    ledger,
    clock,
    requestTimeoutMs: 5000,
    now: () => 1_700_000_000_000,
  }
  return { deps, ledger, clock, events }
}

const outcomes = (r: { peers: { peer: string; root: string }[] }) =>
  Object.fromEntries(r.peers.map((p) => [p.peer, p.root]))

describe('state roots at a height', () => {
  it('a lying majority (3 of 4: unsigned, signed by non-validators, too few signatures) is charged and banned; the honest peer matches; no evidence', async () => {
    const fork = headerAt(H, 1)
    const { deps, ledger } = setup([
      serving('unsigned', { header: fork, signatures: [] }),
      serving('outsiders', signBy(fork, QUORUM_A, true)),
      serving('too-few', signBy(fork, [0, 1, 2, 3])),
      serving('honest', local),
    ])
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({
      unsigned: 'invalid',
      outsiders: 'invalid',
      'too-few': 'invalid',
      honest: 'match',
    })
    expect(r.evidence).toEqual([])
    expect(
      r.discrepancies.map((d) => d.kind === 'InvalidPeerData' && [d.peer, d.what, d.code, d.action]),
    ).toEqual([
      ['unsigned', 'header', 'NO_QUORUM', 'charged'],
      ['outsiders', 'header', 'BAD_HEADER_SIGNATURE', 'charged'],
      ['too-few', 'header', 'NO_QUORUM', 'charged'],
    ])
    for (const liar of ['unsigned', 'outsiders', 'too-few']) {
      expect(ledger.isBanned(liar)).toBe(true)
      expect(r.peers.find((p) => p.peer === liar)!.charged).toMatch(/^root: /)
    }
    expect(ledger.isBanned('honest')).toBe(false)
    expect(r.peers.find((p) => p.peer === 'honest')!.charged).toBeNull()
  })

  it('a second header at h with a valid quorum is equivocation: evidence names exactly the double signers, the peer is not charged', async () => {
    const fork = signBy(headerAt(H, 1), [2, 3, 4, 5, 6])
    const otherFork = signBy(headerAt(H, 2), [0, 1, 2, 5, 6])
    const { deps, ledger } = setup([
      serving('forked', fork),
      serving('forked-too', fork),
      serving('other-fork', otherFork),
      serving('honest', local),
    ])
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({
      forked: 'equivocation',
      'forked-too': 'equivocation',
      'other-fork': 'equivocation',
      honest: 'match',
    })
    // One piece of evidence per conflicting header, one discrepancy per peer that showed one.
    expect(r.evidence).toHaveLength(2)
    expect(r.discrepancies.map((d) => d.kind === 'Equivocation' && [d.peer, d.height, d.action])).toEqual([
      ['forked', H, 'halted'],
      ['forked-too', H, 'halted'],
      ['other-fork', H, 'halted'],
    ])
    const [e, e2] = r.evidence
    expect(e!.doubleSigners).toEqual(
      [2, 3, 4].map((index) => ({ index, address: toHex(validators[index]!) })),
    )
    expect(e2!.doubleSigners.map((s) => s.index)).toEqual([0, 1, 2])
    expect(e).toMatchObject({
      height: H,
      chainId: CHAIN_ID,
      peer: 'forked',
      foundAt: 1_700_000_000_000,
      acknowledgedAt: null,
      local: { hash: toHex(headerHash(local.header)) },
      conflicting: { hash: toHex(headerHash(fork.header)) },
    })
    // Both signed headers are in the evidence, as they were signed, and it re-verifies.
    expect(decodeSignedHeader(fromHex(e!.local.signed))).toEqual(local)
    expect(decodeSignedHeader(fromHex(e!.conflicting.signed))).toEqual(fork)
    expect(() => verifyEvidence(checkpoint, e!)).not.toThrow()
    expect(r.discrepancies[0]!.kind === 'Equivocation' && r.discrepancies[0]!.evidence).toBe(e!.id)
    for (const p of ['forked', 'forked-too', 'other-fork']) {
      expect(ledger.isBanned(p)).toBe(false)
      expect(ledger.record(p)).toMatchObject({ bad: 0, errors: 0, timeouts: 0 })
      expect(r.peers.find((x) => x.peer === p)!.charged).toBeNull()
    }
  })

  it('at the checkpoint itself (no signatures kept), a conflicting header with a quorum is equivocation with no provable double signers', async () => {
    const fork = signBy({ ...genesis, stateRoot: new Uint8Array(32).fill(9) }, QUORUM_A)
    const cp = { header: genesis, hash: headerHash(genesis) }
    const { deps } = setup([serving('forked', fork)], cp)
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({ forked: 'equivocation' })
    expect(r.evidence[0]!.doubleSigners).toEqual([])
    expect(() => verifyEvidence(checkpoint, r.evidence[0]!)).not.toThrow()
  })

  it('peers that lack the height (UNAVAILABLE, or no root protocol) are not charged', async () => {
    const noRoot: LightPeer = { id: 'no-root', wire: { ...serving('x', local).wire, root: undefined } }
    const { deps, ledger, events } = setup([
      peer('pruned', wire.encodeError(wire.Status.UNAVAILABLE, `no header ${H}`)),
      noRoot,
      serving('honest', local),
    ])
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({ pruned: 'unavailable', 'no-root': 'unavailable', honest: 'match' })
    expect(r.discrepancies).toEqual([])
    expect(r.peers.every((p) => p.charged === null)).toBe(true)
    expect(events).toEqual([])
    expect(ledger.record('pruned')).toMatchObject({ bad: 0, errors: 0, timeouts: 0, banned: null })
  })

  it('a peer that does not answer in time, or whose transport fails, is counted as a failure, not banned', async () => {
    const { deps, ledger, clock } = setup([
      peer('stalled', () => never()),
      peer('broken', () => Promise.reject(new PeerFailure('error', 'PEER_CLOSED', 'stream closed'))),
      serving('honest', local),
    ])
    const running = checkRoots(deps, new AbortController().signal)
    // Once the others have answered, only the stalled peer's deadline is left; then it falls due.
    await vi.waitFor(() => expect(clock.pending()).toBe(1))
    clock.advance(deps.requestTimeoutMs)
    const r = await running
    expect(outcomes(r)).toEqual({ stalled: 'failed', broken: 'failed', honest: 'match' })
    expect(r.discrepancies).toEqual([])
    expect(ledger.record('stalled')).toMatchObject({ timeouts: 1, banned: null })
    expect(ledger.record('broken')).toMatchObject({ errors: 1, banned: null })
    expect(r.peers.find((p) => p.peer === 'stalled')!.charged).toContain('no answer in 5000 ms')
  })

  it('garbage (bytes that do not decode) and a header at another height get the peer charged and banned', async () => {
    const { deps, ledger } = setup([
      peer('garbage', Uint8Array.of(0xc3, 0x80, 0xc1, 0xff)),
      serving('wrong-height', signBy(headerAt(H + 1), QUORUM_A)),
      serving('honest', local),
    ])
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({ garbage: 'invalid', 'wrong-height': 'invalid', honest: 'match' })
    expect(r.discrepancies.map((d) => d.kind === 'InvalidPeerData' && [d.peer, d.code])).toEqual([
      ['garbage', 'RLP_INVALID'],
      ['wrong-height', 'ROOT_WRONG_HEIGHT'],
    ])
    expect(ledger.isBanned('garbage')).toBe(true)
    expect(ledger.isBanned('wrong-height')).toBe(true)
    expect(ledger.record('wrong-height').banned).toContain(`asked for the header at ${H}`)
    expect(r.evidence).toEqual([])
  })

  it('aborting rejects with the reason and charges nobody', async () => {
    const { deps, events } = setup([peer('stalled', () => never()), serving('honest', local)])
    const ac = new AbortController()
    const running = checkRoots(deps, ac.signal)
    const stop = new Error('stopped by the user')
    ac.abort(stop)
    await expect(running).rejects.toBe(stop)
    await expect(checkRoots(deps, ac.signal)).rejects.toBe(stop)
    expect(events).toEqual([])
  })

  it('doubleSigners counts only valid signatures on both headers, each validator once', () => {
    const a = signBy(headerAt(H, 1), [0, 1, 2, 3, 4])
    const b = signBy(headerAt(H, 2), [2, 3, 4, 5, 6])
    // A forged signature for validator 5 on `a` and a duplicate of validator 2's on `b` add nobody.
    const forged = { ...a, signatures: [...a.signatures, signBy(a.header, [5], true).signatures[0]!] }
    const dup = { ...b, signatures: [...b.signatures, b.signatures[0]!] }
    expect(doubleSigners(CHAIN_ID, validators, forged, dup).map((s) => s.index)).toEqual([2, 3, 4])
  })
})

describe('state roots at a height after the validator set rotated', () => {
  /** The verified block at H names the rotated set (slots 0–3 replaced), signed by a quorum of it. */
  const rotatedLocal = signByRotated(rotatedHeaderAt(H), QUORUM_A)
  const rotated = lightBlock(rotatedLocal, rotatedValidators)

  it("a header naming another validator set is the peer's fault (charged, banned), not evidence — even signed by a quorum of the checkpoint's set", async () => {
    // The checkpoint's (departed) validators sign a conflicting header naming their own set; a
    // header naming the rotated set but signed by outsiders' keys in its place fails its signatures.
    const departed = signBy(headerAt(H, 1), QUORUM_A)
    const notTheirs = signBy(rotatedHeaderAt(H, 2), QUORUM_A, true)
    const { deps, ledger } = setup(
      [serving('departed', departed), serving('not-theirs', notTheirs), serving('honest', rotatedLocal)],
      rotated,
    )
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({ departed: 'invalid', 'not-theirs': 'invalid', honest: 'match' })
    expect(r.evidence).toEqual([])
    expect(r.discrepancies.map((d) => d.kind === 'InvalidPeerData' && [d.peer, d.code, d.action])).toEqual([
      ['departed', 'BAD_VALIDATOR_SET', 'charged'],
      ['not-theirs', 'BAD_HEADER_SIGNATURE', 'charged'],
    ])
    expect(ledger.isBanned('departed')).toBe(true)
    expect(ledger.isBanned('not-theirs')).toBe(true)
    expect(ledger.isBanned('honest')).toBe(false)

    // The same departed header against a verified header that still names the checkpoint's set is
    // an equivocation: what decides is the set the local header names, not the checkpoint.
    const before = await checkRoots(setup([serving('departed', departed)]).deps, new AbortController().signal)
    expect(outcomes(before)).toEqual({ departed: 'equivocation' })
  })

  it("a conflicting header at a rotated height is verified against that height's set: evidence carries the set, names its double signers and re-verifies", async () => {
    const fork = signByRotated(rotatedHeaderAt(H, 1), [2, 3, 4, 5, 6])
    const tooFew = signByRotated(rotatedHeaderAt(H, 2), [3, 4, 5, 6])
    const { deps, ledger } = setup([serving('forked', fork), serving('too-few', tooFew)], rotated)
    const r = await checkRoots(deps, new AbortController().signal)
    expect(outcomes(r)).toEqual({ forked: 'equivocation', 'too-few': 'invalid' })
    expect(ledger.isBanned('forked')).toBe(false)
    expect(ledger.isBanned('too-few')).toBe(true)
    const e = r.evidence[0]!
    expect(e.validators).toEqual(rotatedValidators.map(toHex))
    // Slots 2 and 3 hold rotated-in validators: the addresses are the rotated set's, not the checkpoint's.
    expect(e.doubleSigners).toEqual(
      [2, 3, 4].map((index) => ({ index, address: toHex(rotatedValidators[index]!) })),
    )
    expect(e.doubleSigners[0]!.address).not.toBe(toHex(validators[2]!))
    expect(() => verifyEvidence(checkpoint, e)).not.toThrow()
    // Evidence claiming the checkpoint's set for these headers does not verify.
    expect(() => verifyEvidence(checkpoint, { ...e, validators: validators.map(toHex) })).toThrow(
      expect.objectContaining({ code: 'EVIDENCE_INVALID' }),
    )
  })

  it('a verified header at a rotated height without its validator set cannot be checked (typed error, nobody charged)', async () => {
    const { deps, events } = setup([serving('honest', rotatedLocal)], trusted(rotatedLocal))
    await expect(checkRoots(deps, new AbortController().signal)).rejects.toMatchObject({
      code: 'NO_VALIDATOR_SET',
    })
    expect(events).toEqual([])
  })
})
