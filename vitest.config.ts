import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Browser and process tests poll what a user would see; a loaded CI machine can take seconds.
    expect: { poll: { timeout: 15_000 } },
    // Integration tests start real node processes; run files one at a time on this 2-core machine so
    // they do not starve each other.
    fileParallelism: false,
  },
})
