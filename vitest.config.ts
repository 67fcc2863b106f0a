import { defineConfig } from 'vitest/config';

// Integration tests start real etcd members and an s3rver on loopback; they are slow, so files run
// in parallel (two cores) while tests inside a file run in order.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
    fileParallelism: true,
    reporters: ['default'],
  },
});
