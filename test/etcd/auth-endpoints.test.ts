/**
 * Auth errors name the endpoint they happened on, on a real 3-member cluster with auth enabled. The client
 * shares one token between endpoints; an authentication that failed on one endpoint (down, or refusing)
 * must neither be reported as another endpoint's failure nor stop the endpoints that work.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

let c: TestCluster;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  [c, tmp] = await Promise.all([
    startTestCluster({ size: 3, auth: { rootPassword: 'root-pw' } }),
    tempDir('dr-auth-ep-'),
  ]);
});

afterAll(async () => {
  await c?.stop();
  await tmp?.cleanup();
});

describe('auth errors and endpoints (3 members, auth enabled)', () => {
  it('a wrong password is reported by every endpoint under its own name', async () => {
    const client = createEtcdClient({
      endpoints: c.endpoints,
      user: 'root',
      password: 'wrong',
      dialTimeoutMs: 3000,
    });
    try {
      const all = await client.statusAll();
      expect(all.map((s) => s.endpoint)).toEqual(c.endpoints);
      for (const s of all) {
        expect(s.status).toBeUndefined();
        expect(s.error?.code).toBe('ETCD_AUTH_FAILED');
        expect(s.error?.message).toContain(s.endpoint);
        for (const other of c.endpoints.filter((e) => e !== s.endpoint))
          expect(s.error?.message).not.toContain(other);
      }
    } finally {
      client.close();
    }
  });

  it('with the first endpoint down: a wrong password fails as ETCD_AUTH_FAILED on the others, naming them', async () => {
    await c.kill(0);
    // the two left elect a leader (member 0 may have been it) before the test asks them anything
    const rest = createEtcdClient({ endpoints: c.endpoints.slice(1), user: 'root', password: 'root-pw' });
    try {
      await until('a leader among the members left', async () => {
        const all = await rest.statusAll();
        return all.every((s) => s.status && s.status.leaderId !== 0n) && (await rest.put('/up', '1'), true);
      });
    } finally {
      rest.close();
    }
    const r = await runDr([
      'backup',
      '--endpoints',
      c.endpoints.join(','),
      '--user',
      'root:wrong',
      '--dial-timeout',
      '3000',
      '--storage',
      `file://${tmp.dir}/wrong`,
      '--catalog',
      `${tmp.dir}/catalog.sqlite`,
      '--json',
    ]);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_AUTH_FAILED');
    const msg: string = r.json.error.message;
    expect(msg).toContain(`on ${c.endpoints[1]} failed: authentication failed`);
    expect(msg).toContain(`on ${c.endpoints[2]} failed: authentication failed`);
    expect(msg).not.toContain(`on ${c.endpoints[0]} failed: authentication failed`);
    expect(msg).toMatch(new RegExp(`no answer from ${c.endpoints[0]} \\(ETCD_UNREACHABLE\\)`));
  });

  it('with the first endpoint down: the right password works through the others', async () => {
    const r = await runDr([
      'backup',
      '--endpoints',
      c.endpoints.join(','),
      '--user',
      'root:root-pw',
      '--dial-timeout',
      '3000',
      '--snapshot-from',
      'any',
      '--storage',
      `file://${tmp.dir}/right`,
      '--catalog',
      `${tmp.dir}/catalog.sqlite`,
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect([c.endpoints[1], c.endpoints[2]]).toContain(r.json.source.endpoint);
  });
});
