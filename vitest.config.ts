import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { ETCD34_BIN_DIR, ETCD35_BIN_DIR, etcdEnv, etcdTestFiles } from './test/etcd-matrix.js';

// Integration tests start real etcd members and an s3rver on loopback; they are slow, so files run
// in parallel (two cores) while tests inside a file run in order.
//
// The etcd version matrix (test/etcd-matrix.ts): without ETCD_BIN_DIR, project "etcd-3.5" runs every test
// file against etcd 3.5 and project "etcd-3.4" runs the files that start etcd against Debian's 3.4. With
// ETCD_BIN_DIR=DIR, one project runs everything against the binaries in DIR. Each project has its own
// TMPDIR so that per-run caches (the WAL corpus) never mix versions.
function project(name: string, binDir: string, include = ['test/**/*.test.ts']) {
  const tmp = path.join(os.tmpdir(), `etcd-dr-test-${name}`);
  mkdirSync(tmp, { recursive: true });
  return {
    extends: true as const,
    test: {
      name,
      include,
      env: { ...etcdEnv(binDir, name), TMPDIR: tmp },
    },
  };
}

const pinned = process.env.ETCD_BIN_DIR;

/** "3.5.16" from `DIR/etcd --version`; a clear error when DIR holds no etcd */
function versionOf(binDir: string): string {
  try {
    const out = execFileSync(path.join(binDir, 'etcd'), ['--version'], { encoding: 'utf8' });
    return /etcd Version: (\S+)/.exec(out)?.[1] ?? 'unknown';
  } catch (err) {
    throw new Error(`ETCD_BIN_DIR=${binDir}: cannot run ${path.join(binDir, 'etcd')} --version (${String(err)})`);
  }
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // a worker process runs file after file without re-importing the modules (the AWS SDK, grpc-js, the
    // parsed protos): about a second of CPU per file on a 2-core CI. Every file cleans up after itself
    // (members, servers, env) in its afterAll, which this relies on.
    isolate: false,
    maxWorkers: 4,
    fileParallelism: true,
    reporters: ['default'],
    setupFiles: ['test/setup/cpu-log.ts'],
    projects: pinned
      ? [project(`etcd-${versionOf(path.resolve(pinned))}`, path.resolve(pinned))]
      : [project('etcd-3.5', ETCD35_BIN_DIR), project('etcd-3.4', ETCD34_BIN_DIR, etcdTestFiles())],
  },
});
