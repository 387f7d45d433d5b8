import { describe, expect, it } from 'vitest'
import { defaultTargets, fuzz } from '../fuzz/harness.ts'

describe('decoder fuzzing (fixed seed; `npm run fuzz` runs longer with new seeds)', () => {
  it('200k random and mutated inputs across the chain, trie and wire-protocol decoders: every one decodes or gets a typed error', async () => {
    const targets = await defaultTargets()
    // The range protocol's decoders are among them (requests server side, replies client side).
    expect(targets.map((t) => t.name)).toEqual(
      expect.arrayContaining(['range request', 'range response', 'code response']),
    )
    const report = fuzz(targets, 200_000, 'ci')
    expect(report.crashes).toEqual([])
    expect(report.inputs).toBe(200_000)
    // Both outcomes occur: the corpus mutations do reach valid and invalid inputs.
    expect(report.rejected).toBeGreaterThan(10_000)
    expect(report.decoded).toBeGreaterThan(100)
  })
})
