import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Two cores: run at most two test files at once; Temporal tests share one server.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
