/** The store conformance suite on the in-memory store. */
import { describe, it } from 'vitest'
import { MemoryNodeStore } from '../../src/core/store.ts'
import { storeConformance } from './conformance.ts'

describe('store conformance: memory', () => {
  storeConformance(
    {
      open: async () => new MemoryNodeStore(),
      skipReopen: 'memory: nothing outlives the process, reopen is not meaningful',
      skipCrash: 'memory: nothing outlives the process, a crash loses everything by design',
    },
    (name, run, skip) => (skip ? it.skip(`${name} (skipped: ${skip})`, run) : it(name, run)),
  )
})
