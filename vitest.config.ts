import { defineConfig } from 'vitest/config'

/**
 * Pure tests: in-memory stores and fakes, no processes, no browser, no ports. They only use CPU, so
 * they run two files at a time (the machine has 2 cores) before the integration files start.
 */
const PURE = [
  'test/core/**/*.test.ts',
  'test/store/memory.test.ts',
  'test/store/reachable.test.ts',
  'test/provider/**/*.test.ts',
  'test/worker/**/*.test.ts',
  'test/client/**/*.test.ts',
  'test/ui/**/*.test.ts',
  'test/net/noise-crypto.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Browser and process tests poll what a user would see; a loaded CI machine can take seconds.
    expect: { poll: { timeout: 15_000 } },
    projects: [
      {
        extends: true,
        // Vitest's default is one worker less than the cores: 1 here.
        test: { name: 'pure', include: PURE, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: PURE,
          // Integration tests start real node processes and Chromium; run files one at a time on
          // this 2-core machine so they do not starve each other.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
