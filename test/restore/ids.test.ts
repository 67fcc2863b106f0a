import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterId, formatId, memberId } from '../../src/restore/ids.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdctl } from './helpers.js';

describe('member and cluster IDs', () => {
  let c: TestCluster;
  const token = 'dr-ids-test-token';
  beforeAll(async () => {
    c = await startTestCluster({ size: 3, token });
  });
  afterAll(async () => c?.stop());

  it('match what a real cluster bootstrapped with the token reports', () => {
    const list = etcdctl(c.endpoints, 'member', 'list', '-w', 'json');
    const reported = [...list.matchAll(/"ID":(\d+),"name":"(\w+)"/g)].map(
      (m) => [m[2]!, BigInt(m[1]!)] as const,
    );
    expect(reported).toHaveLength(3);
    const ours = c.members.map((m) => [m.spec.name, memberId([m.spec.peerUrl], token)] as const);
    expect(new Map(reported)).toEqual(new Map(ours));
    const status = etcdctl([c.endpoints[0]!], 'endpoint', 'status', '-w', 'json');
    const cid = BigInt(/"cluster_id":(\d+)/.exec(status)![1]!);
    expect(clusterId(ours.map(([, id]) => id))).toBe(cid);
  });

  it('reproduce the reference example', () => {
    const id = memberId(['http://127.0.0.1:37912'], 'tok-lab');
    expect(formatId(id)).toBe('e75d689050f6e752');
  });
});
