import { afterEach, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { JobView } from '../../src/http/api-types.js';
import { buildHttpServer, sameSecret, type ApiDaemon } from '../../src/http/server.js';
import { createMetrics } from '../../src/metrics/metrics.js';

const job: JobView = {
  id: 'j1',
  kind: 'backup',
  cluster: 'c1',
  policy: 'p1',
  trigger: 'api',
  state: 'queued',
  attempts: 0,
  createdAt: '2026-01-01T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  nextAttemptAt: null,
  backupId: null,
  error: null,
};

function fakeDaemon(over: Partial<ApiDaemon> = {}): ApiDaemon & { triggered: string[] } {
  const triggered: string[] = [];
  return {
    triggered,
    ready: async () => ({
      ready: false,
      config: { loaded: true, file: '/x.yaml' },
      catalog: { open: true },
      storage: [{ name: 's', ok: false, error: 'down' }],
    }),
    clusters: () => [],
    backups: () => [],
    backup: (id) => {
      throw new DrError('BACKUP_NOT_FOUND', `no backup ${id}`);
    },
    trigger: (cluster, policy) => {
      triggered.push(`${cluster}/${policy ?? ''}`);
      if (cluster === 'busy') throw new DrError('ABORTED', 'daemon: shutting down');
      return { job, created: true };
    },
    job: (id) => (id === 'j1' ? job : undefined),
    ...over,
  };
}

let app: ReturnType<typeof buildHttpServer> | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('http api', () => {
  it('refuses mutating calls when no token is configured, and never reaches the daemon', async () => {
    const daemon = fakeDaemon();
    app = buildHttpServer({
      daemon,
      registry: createMetrics({ defaultMetrics: false }).registry,
      token: () => null,
      logger: silentLogger,
    });
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/clusters/c1/backups',
      headers: { authorization: 'Bearer anything' },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({
      error: { code: 'UNAUTHORIZED', message: expect.stringMatching(/no server.tokenFile/) },
    });
    expect(daemon.triggered).toEqual([]);
  });

  it('checks the bearer token, validates input and maps DrError codes to their HTTP status', async () => {
    const daemon = fakeDaemon();
    let token = 'first';
    app = buildHttpServer({
      daemon,
      registry: createMetrics({ defaultMetrics: false }).registry,
      token: () => token,
      logger: silentLogger,
    });
    const post = (url: string, auth?: string, payload?: unknown) =>
      app!.inject({
        method: 'POST',
        url,
        headers: auth ? { authorization: auth } : {},
        ...(payload !== undefined ? { payload: payload as object } : {}),
      });

    expect((await post('/api/v1/clusters/c1/backups')).statusCode).toBe(401);
    expect((await post('/api/v1/clusters/c1/backups', 'Basic Zmlyc3Q=')).statusCode).toBe(401);
    expect((await post('/api/v1/clusters/c1/backups', 'Bearer firs')).statusCode).toBe(401);
    const ok = await post('/api/v1/clusters/c1/backups', 'Bearer first', { policy: 'p1' });
    expect(ok.statusCode).toBe(202);
    expect(ok.headers.location).toBe('/api/v1/jobs/j1');
    expect(ok.json()).toMatchObject({ job: { id: 'j1', state: 'queued' }, created: true });
    token = 'second'; // a reload changed it
    expect((await post('/api/v1/clusters/c1/backups', 'Bearer first')).statusCode).toBe(401);
    expect((await post('/api/v1/clusters/c1/backups', 'bearer second')).statusCode).toBe(202);

    expect(
      (await post('/api/v1/clusters/c1/backups', 'Bearer second', { policy: 'p1', extra: 1 })).statusCode,
    ).toBe(400);
    expect((await post('/api/v1/clusters/bad%20name/backups', 'Bearer second')).statusCode).toBe(400);
    const shuttingDown = await post('/api/v1/clusters/busy/backups', 'Bearer second');
    expect(shuttingDown.statusCode).toBe(503);
    expect(shuttingDown.json()).toEqual({ error: { code: 'ABORTED', message: 'daemon: shutting down' } });

    const missing = await app.inject({ method: 'GET', url: '/api/v1/backups/20260101T000000Z-0123abcd' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('BACKUP_NOT_FOUND');
    expect((await app.inject({ method: 'GET', url: '/api/v1/backups?cluster=a%20b' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/v1/jobs/j1' })).json()).toEqual({ job });
    expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ ready: false, storage: [{ name: 's', ok: false, error: 'down' }] });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/# TYPE etcd_backup_last_success_timestamp_seconds gauge/);
  });

  it('answers GET /api/v1/backups/latest with the newest backup (of ?cluster=), as the CLI takes "latest"', async () => {
    const listing = (id: string, cluster: string, createdAt: string) => ({
      id,
      cluster,
      policy: 'p',
      storage: 's',
      createdAt,
      revision: '1',
      dbSize: 1,
      storedSize: 1,
      verifiedAt: null,
      verifyOk: null,
    });
    // newest first, as the daemon lists them
    const all = [
      listing('20260102T000000Z-0000000b', 'b', '2026-01-02T00:00:00.000Z'),
      listing('20260101T000000Z-0000000a', 'a', '2026-01-01T00:00:00.000Z'),
    ];
    const asked: string[] = [];
    app = buildHttpServer({
      daemon: fakeDaemon({
        backups: (f = {}) => all.filter((b) => !f.cluster || b.cluster === f.cluster),
        backup: (id) => {
          asked.push(id);
          return {
            manifest: { id } as never,
            locations: [{ storage: 's', verifiedAt: null, verifyOk: null }],
          };
        },
      }),
      registry: createMetrics({ defaultMetrics: false }).registry,
      token: () => null,
      logger: silentLogger,
    });
    const latest = await app.inject({ method: 'GET', url: '/api/v1/backups/latest' });
    expect(latest.statusCode).toBe(200);
    expect(latest.json().manifest.id).toBe('20260102T000000Z-0000000b');
    const ofA = await app.inject({ method: 'GET', url: '/api/v1/backups/latest?cluster=a' });
    expect(ofA.statusCode).toBe(200);
    expect(ofA.json().manifest.id).toBe('20260101T000000Z-0000000a');
    expect(asked).toEqual(['20260102T000000Z-0000000b', '20260101T000000Z-0000000a']);
    const none = await app.inject({ method: 'GET', url: '/api/v1/backups/latest?cluster=zz' });
    expect(none.statusCode).toBe(404);
    expect(none.json().error).toMatchObject({
      code: 'BACKUP_NOT_FOUND',
      message: expect.stringMatching(/cluster zz/),
    });
    expect((await app.inject({ method: 'GET', url: '/api/v1/backups/newest' })).statusCode).toBe(400);
  });

  it('compares secrets by content only', () => {
    expect(sameSecret('abc', 'abc')).toBe(true);
    expect(sameSecret('abc', 'abd')).toBe(false);
    expect(sameSecret('abc', 'abcd')).toBe(false);
    expect(sameSecret('', 'x')).toBe(false);
  });
});
