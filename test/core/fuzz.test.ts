import { describe, expect, it } from 'vitest'
import { defaultTargets, fuzz } from '../fuzz/harness.ts'

describe('decoder fuzzing (fixed seed; `npm run fuzz` runs longer with new seeds)', () => {
  it('100k random and mutated inputs: every one decodes or gets a typed error', async () => {
    const report = fuzz(await defaultTargets(), 100_000, 'ci')
    expect(report.crashes).toEqual([])
    expect(report.inputs).toBe(100_000)
    // Both outcomes occur: the corpus mutations do reach valid and invalid inputs.
    expect(report.rejected).toBeGreaterThan(10_000)
    expect(report.decoded).toBeGreaterThan(100)
  })
})
