import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrError } from '../../src/core/errors.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

async function drain(s: NodeJS.ReadableStream): Promise<number> {
  let n = 0;
  for await (const chunk of s) n += (chunk as Buffer).length;
  return n;
}

describe('etcd client against a cluster with auth enabled', () => {
  let c: TestCluster;
  beforeAll(async () => {
    c = await startTestCluster({
      size: 1,
      // simple tokens live 2 s, so the re-authentication path is exercised
      extraArgs: ['--auth-token-ttl', '2'],
      auth: {
        rootPassword: 'root-pw',
        restrictedUser: { name: 'app', password: 'app-pw', prefix: '/app/' },
      },
    });
  });
  afterAll(async () => c?.stop());

  it('authenticates as root: writes, HashKV and a snapshot work', async () => {
    const client = createEtcdClient({ endpoints: c.endpoints, user: 'root', password: 'root-pw' });
    try {
      await client.put('/root-key', 'v');
      const h = await client.hashKV(c.endpoints[0]!);
      expect(h.revision).toBeGreaterThan(1n);
      expect(await drain(client.snapshot(c.endpoints[0]!))).toBeGreaterThan(32);
    } finally {
      client.close();
    }
  });

  it('authenticates again once the token expired', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const reauths = () => lines.filter((l) => l.includes('authenticating again')).length;
    const client = createEtcdClient(
      { endpoints: c.endpoints, user: 'root', password: 'root-pw' },
      { logger },
    );
    try {
      await client.put('/ttl', '1');
      // etcd checks simple-token expiry about once a second
      await new Promise((r) => setTimeout(r, 4500));
      await client.put('/ttl', '2');
      expect((await client.get('/ttl'))[0]!.value.toString()).toBe('2');
      expect(reauths()).toBe(1);
      await new Promise((r) => setTimeout(r, 4500));
      expect(await drain(client.snapshot(c.endpoints[0]!))).toBeGreaterThan(32);
      expect(reauths()).toBe(2);
    } finally {
      client.close();
    }
  });

  it('reports a wrong password as ETCD_AUTH_FAILED naming the endpoint', async () => {
    const client = createEtcdClient({ endpoints: c.endpoints, user: 'root', password: 'nope' });
    try {
      const err = (await client.status(c.endpoints[0]!).catch((e: unknown) => e)) as DrError;
      expect(err.code).toBe('ETCD_AUTH_FAILED');
      expect(err.message).toContain(c.endpoints[0]);
      expect(err.message).not.toContain('nope');
      await expect(client.pickSnapshotSource()).rejects.toMatchObject({ code: 'ETCD_AUTH_FAILED' });
      await expect(client.memberList()).rejects.toMatchObject({ code: 'ETCD_AUTH_FAILED' });
    } finally {
      client.close();
    }
  });

  it('reports a missing user on an auth cluster as ETCD_AUTH_FAILED', async () => {
    const client = createEtcdClient({ endpoints: c.endpoints });
    try {
      await expect(client.put('/x', 'y')).rejects.toMatchObject({ code: 'ETCD_AUTH_FAILED' });
    } finally {
      client.close();
    }
  });

  it('refuses a snapshot and HashKV to a user without the root role: ETCD_PERMISSION_DENIED', async () => {
    const client = createEtcdClient({ endpoints: c.endpoints, user: 'app', password: 'app-pw' });
    try {
      // the user may do what its role allows
      await client.put('/app/k', 'v');
      await expect(client.put('/other', 'v')).rejects.toMatchObject({ code: 'ETCD_PERMISSION_DENIED' });
      const err = (await drain(client.snapshot(c.endpoints[0]!)).catch((e: unknown) => e)) as DrError;
      expect(err.code).toBe('ETCD_PERMISSION_DENIED');
      expect(err.message).toContain(c.endpoints[0]);
      await expect(client.hashKV(c.endpoints[0]!)).rejects.toMatchObject({
        code: 'ETCD_PERMISSION_DENIED',
      });
    } finally {
      client.close();
    }
  });
});
