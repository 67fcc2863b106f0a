import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

describe('local etcd members', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await startTestCluster({ size: 3 });
  });
  afterAll(async () => c?.stop());

  it('forms a 3-member cluster that accepts writes', () => {
    execFileSync('etcdctl', ['--endpoints', c.endpoints.join(','), 'put', 'a', '1'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const out = execFileSync('etcdctl', [
      '--endpoints',
      c.endpoints[2]!,
      'member',
      'list',
      '-w',
      'json',
    ]).toString();
    expect(JSON.parse(out).members).toHaveLength(3);
  });
});
