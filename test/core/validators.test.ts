import { describe, expect, it } from 'vitest'
import { decodeBlock, encodeBlock } from '../../src/core/chain/block.ts'
import { ChainDB } from '../../src/core/chain/chain-db.ts'
import { devnetKeys, generateDevnet } from '../../src/core/chain/devnet.ts'
import { genesisToJson, parseGenesis } from '../../src/core/chain/genesis.ts'
import { type Header, type SignedHeader, signHeader } from '../../src/core/chain/header.ts'
import { addressOf } from '../../src/core/chain/keys.ts'
import {
  applyValidatorUpdates,
  lightBlockOf,
  lightBlockReply,
  type SigStats,
  tallySigners,
  validatorSetHash,
  verifyHeaderSignatures,
} from '../../src/core/chain/validators.ts'
import { RlpError } from '../../src/core/errors.ts'
import * as wire from '../../src/core/protocol/messages.ts'
import { MemoryNodeStore } from '../../src/core/store.ts'

const CHAIN = 9
const keys = devnetKeys('validators-test', 12, 0).validators
const addrs = keys.map(addressOf)
const set10 = addrs.slice(0, 10)
const fill = (b: number) => new Uint8Array(32).fill(b)

function header(set: Uint8Array[], next = set): Header {
  return {
    parentHash: fill(1),
    number: 5,
    stateRoot: fill(2),
    txRoot: fill(3),
    timestamp: 1_700_000_005,
    validatorsHash: validatorSetHash(CHAIN, set),
    nextValidatorsHash: validatorSetHash(CHAIN, next),
    extra: new Uint8Array(0),
  }
}
const signAll = (h: Header, n: number): SignedHeader =>
  signHeader(
    CHAIN,
    h,
    keys.slice(0, n).map((key, index) => ({ index, key })),
  )

describe('validator sets', () => {
  it('signature checks stop at the quorum: 10 validators all signing cost 7 recoveries', () => {
    const s = signAll(header(set10), 10)
    const stats: SigStats = { recovered: 0 }
    verifyHeaderSignatures(CHAIN, s, set10, stats)
    expect(stats.recovered).toBe(7)
  })

  it('prefers signers the caller trusts: their signatures are recovered first', () => {
    const s = signAll(header(set10), 10)
    s.signatures.reverse() // the preferred ones come last on the wire
    const trusted = new Set(set10.slice(0, 4).map((a) => a.join()))
    const stats: SigStats = { recovered: 0 }
    const signers = tallySigners(
      CHAIN,
      s,
      set10,
      (x) => x.size >= 4,
      (a) => trusted.has(a.join()),
      stats,
    )
    expect([...signers].sort()).toEqual([0, 1, 2, 3])
    expect(stats.recovered).toBe(4)
  })

  it('a minority, a forged signature and an unknown index are refused with their codes', () => {
    const h = header(set10)
    expect(() => verifyHeaderSignatures(CHAIN, signAll(h, 6), set10)).toThrow(
      expect.objectContaining({ code: 'NO_QUORUM' }),
    )
    const forged = signAll(h, 7)
    forged.signatures[2] = {
      validator: 2,
      signature: signAll(header(addrs.slice(1, 11)), 3).signatures[2]!.signature,
    }
    expect(() => verifyHeaderSignatures(CHAIN, forged, set10)).toThrow(
      expect.objectContaining({ code: 'BAD_HEADER_SIGNATURE' }),
    )
    const unknown = signAll(h, 7)
    unknown.signatures[0] = { ...unknown.signatures[0]!, validator: 10 }
    expect(() => verifyHeaderSignatures(CHAIN, unknown, set10)).toThrow(
      expect.objectContaining({ code: 'BAD_HEADER_SIGNATURE' }),
    )
  })

  it('a duplicate signer counts once', () => {
    const s = signAll(header(set10), 6)
    s.signatures.push(s.signatures[0]!)
    expect(() => verifyHeaderSignatures(CHAIN, s, set10)).toThrow(
      expect.objectContaining({ code: 'NO_QUORUM' }),
    )
  })

  it('updates replace slots; bad updates are refused with BAD_VALIDATOR_UPDATE', () => {
    const set = addrs.slice(0, 4)
    expect(applyValidatorUpdates(set, [{ slot: 1, address: addrs[9]! }])).toEqual([
      set[0],
      addrs[9],
      set[2],
      set[3],
    ])
    for (const ups of [
      [{ slot: 4, address: addrs[9]! }],
      [{ slot: 0, address: addrs[2]! }],
      [
        { slot: 0, address: addrs[8]! },
        { slot: 0, address: addrs[9]! },
      ],
      [{ slot: 0, address: new Uint8Array(19) }],
    ])
      expect(() => applyValidatorUpdates(set, ups)).toThrow(
        expect.objectContaining({ code: 'BAD_VALIDATOR_UPDATE' }),
      )
  })

  it('a served set must hash to what the header says (BAD_VALIDATOR_SET); an empty next set means unchanged', () => {
    const set = addrs.slice(0, 4)
    const next = applyValidatorUpdates(set, [{ slot: 0, address: addrs[5]! }])
    const s = signAll(header(set, next), 4)
    const lb = lightBlockOf(CHAIN, { signed: s, validators: set, nextValidators: next })
    expect(lb.nextValidators).toEqual(next)
    const same = signAll(header(set), 4)
    expect(
      lightBlockOf(CHAIN, lightBlockReply({ signed: same, validators: set, nextValidators: set }))
        .nextValidators,
    ).toEqual(set)
    const swapped = [set[1]!, set[0]!, set[2]!, set[3]!]
    for (const r of [
      { signed: s, validators: swapped, nextValidators: next },
      { signed: s, validators: set, nextValidators: set },
      { signed: s, validators: set, nextValidators: [] },
      { signed: s, validators: [set[0]!, set[0]!, set[2]!, set[3]!], nextValidators: next },
    ])
      expect(() => lightBlockOf(CHAIN, r)).toThrow(expect.objectContaining({ code: 'BAD_VALIDATOR_SET' }))
  })

  it('a genesis listing a validator twice is refused (BAD_GENESIS); a chain needs validators', async () => {
    const { genesis } = generateDevnet({ seed: 'dup', accounts: 3, contracts: 0, slots: 0 })
    const json = genesisToJson({ ...genesis, validators: [genesis.validators[0]!, genesis.validators[0]!] })
    expect(() => parseGenesis(json)).toThrow(expect.objectContaining({ code: 'BAD_GENESIS' }))
    // No validators: a state root can still be computed, but no chain starts from it.
    const bare = parseGenesis({ ...json, validators: [] })
    await expect(ChainDB.open(new MemoryNodeStore(), bare)).rejects.toMatchObject({ code: 'BAD_GENESIS' })
  })

  it('blocks carry their validator updates on the wire', () => {
    const s = signAll(header(set10), 7)
    const b = { ...s, transactions: [], validatorUpdates: [{ slot: 3, address: addrs[11]! }] }
    expect(decodeBlock(encodeBlock(b))).toEqual(b)
  })

  it('/rootsync/validators/1 round-trips and bounds its lists', () => {
    const set = addrs.slice(0, 4)
    const r = { signed: signAll(header(set), 4), validators: set, nextValidators: [] }
    expect(wire.decodeValidatorsRequest(wire.encodeValidatorsRequest({ height: 77 }))).toEqual({ height: 77 })
    expect(wire.decodeValidatorsResponse(wire.encodeValidatorsResponse(r))).toEqual(r)
    const tooMany = Array.from({ length: wire.LIMITS.maxValidators + 1 }, () => addrs[0]!)
    expect(() =>
      wire.decodeValidatorsResponse(wire.encodeValidatorsResponse({ ...r, validators: tooMany })),
    ).toThrow(RlpError)
    expect(() =>
      wire.decodeValidatorsResponse(
        wire.encodeValidatorsResponse({ ...r, nextValidators: [new Uint8Array(19)] }),
      ),
    ).toThrow(RlpError)
    expect(() => wire.decodeValidatorsResponse(wire.ok([[1, 2], set, []]))).toThrow(RlpError)
  })
})
