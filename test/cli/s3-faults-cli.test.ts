/**
 * `dr backup`, `dr list`, `dr verify` and `dr gc` with faults injected between dr and a real s3rver by a
 * proxy on loopback (test/helpers/fault-proxy.ts), against a real 1-member etcd holding > 16 MiB (so the
 * object goes up as a multipart upload):
 *
 *  - a 403 and a connection reset on the parts: exit 3 with that cause, never ABORTED;
 *  - a part upload accepted and never answered: exit 3 on the deadline;
 *  - SIGTERM while a part hangs (deadlines far beyond the test's timeout): exit 3 ABORTED, at once;
 *  - a listing that hangs: `dr list` ends with exit 3 on the deadline;
 *  - a download dropped during `dr verify`: read again; dropped every time, exit 3 STORAGE_FAILED (not
 *    corruption) and no failed verification in the catalog; dropped once, verify passes;
 *  - `dr gc` on a server without ListMultipartUploads: exit 0.
 *
 * After each failed backup nothing is visible (`dr list` and s3rver's own files) and the multipart upload
 * it created was asked to be aborted (s3rver implements no AbortMultipartUpload: the proxy saw the
 * request for exactly that upload id).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { filesBelow, runDr, spawnDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

describe('dr against s3:// through a fault-injecting proxy', () => {
  let c: TestCluster;
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;

  /** The storage URL through the proxy, with short deadlines unless overridden. */
  function storage(params: Record<string, string> = {}, prefix = 'backups'): string {
    const q = new URLSearchParams({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      forcePathStyle: 'true',
      maxAttempts: '1',
      connectTimeoutMs: '1000',
      // short, yet long enough for s3rver's real answers on a loaded 2-core machine
      socketTimeoutMs: '3000',
      requestTimeoutMs: '6000',
      ...params,
    });
    return `s3://${s3.bucket}/${prefix}?${q.toString()}`;
  }

  function backupArgs(url: string): string[] {
    return ['backup', '--endpoints', c.endpoints[0]!, '--cluster-name', 'prod', '--storage', url, '--json'];
  }

  async function expectNothingVisible(prefix = 'backups'): Promise<void> {
    const list = await runDr(['list', '--json', '--storage', s3.url(prefix)], env);
    expect(list.code).toBe(0);
    expect(list.json.backups).toEqual([]);
    const objects = filesBelow(path.join(s3.dir, s3.bucket, prefix)).filter((f) =>
      f.endsWith('._S3rver_object'),
    );
    expect(objects).toEqual([]);
  }

  function expectUploadAbortRequested(): void {
    const parts = proxy.requests.filter((r) => r.op === 'UploadPart');
    expect(parts.length).toBeGreaterThan(0);
    const uploadId = parts[0]!.query.get('uploadId');
    expect(
      proxy.requests.some((r) => r.op === 'AbortMultipartUpload' && r.query.get('uploadId') === uploadId),
    ).toBe(true);
    expect(proxy.requests.some((r) => r.op === 'CompleteMultipartUpload')).toBe(false);
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    [c, s3] = await Promise.all([startTestCluster({ size: 1 }), startS3rver('dr-faults')]);
    proxy = await startFaultProxy(s3.endpoint);
    // random values: zstd cannot shrink them below the 16 MiB part size
    const client = createEtcdClient({ endpoints: c.endpoints });
    try {
      for (let batch = 0; batch < 18; batch++) {
        await client.txnPuts(
          Array.from({ length: 16 }, (_, i) => ({
            key: `/fill/${batch}/${i}`,
            value: randomBytes(64 * 1024),
          })),
        );
      }
    } finally {
      client.close();
    }
    env = {
      DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
  }, 120_000);
  afterEach(() => {
    proxy.clearFaults();
    proxy.requests.length = 0;
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([c?.stop(), s3?.stop()]);
    await cleanup?.();
  });

  it('a 403 on the parts: exit 3 STORAGE_ACCESS_DENIED (not ABORTED); nothing visible; upload abort asked', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'status', status: 403, code: 'AccessDenied' } });
    const r = await runDr(backupArgs(storage()), env, 60_000);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('STORAGE_ACCESS_DENIED');
    expect(r.json.error.message).toContain('access denied');
    expect(r.stderr).not.toContain(env.AWS_SECRET_ACCESS_KEY);
    expectUploadAbortRequested();
    await expectNothingVisible();
  }, 90_000);

  it('a connection reset on the parts: exit 3 with the reset as cause (not ABORTED); nothing visible', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'reset' } });
    const r = await runDr(backupArgs(storage({ maxAttempts: '2' })), env, 60_000);
    expect(r.code).toBe(3);
    expect(['STORAGE_FAILED', 'STORAGE_UNREACHABLE']).toContain(r.json.error.code);
    expect(r.json.error.message).toContain('ECONNRESET');
    expectUploadAbortRequested();
    await expectNothingVisible();
  }, 90_000);

  it('a part accepted and never answered: exit 3 STORAGE_UNREACHABLE on the deadline; nothing visible', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'stall' } });
    const r = await runDr(backupArgs(storage()), env, 60_000);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('STORAGE_UNREACHABLE');
    expect(r.json.error.message).toContain('no answer in time');
    expectUploadAbortRequested();
    await expectNothingVisible();
  }, 90_000);

  it('SIGTERM while a part hangs: exit 3 ABORTED at once, though every deadline is far away; nothing visible', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'stall' } });
    const url = storage({ socketTimeoutMs: '600000', requestTimeoutMs: '600000' });
    const child = spawnDr(backupArgs(url), env);
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await proxy.waitFor('UploadPart', 'stall');
    child.kill('SIGTERM');
    // the test's timeout (30 s) is far below the 600 s deadlines: only the signal can end it in time
    expect(await exited).toBe(3);
    expect(JSON.parse(stdout).error.code).toBe('ABORTED');
    expectUploadAbortRequested();
    await expectNothingVisible();
  }, 30_000);

  it('a listing that hangs: dr list ends with exit 3 on the deadline', async () => {
    proxy.fault({ op: 'ListObjectsV2', fault: { kind: 'stall' } });
    const r = await runDr(['list', '--json', '--storage', storage({ socketTimeoutMs: '800' })], env, 60_000);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('STORAGE_UNREACHABLE');
  }, 90_000);

  it('SIGTERM while dr list hangs on its listing: exit 3 ABORTED at once', async () => {
    proxy.fault({ op: 'ListObjectsV2', fault: { kind: 'stall' } });
    const url = storage({ socketTimeoutMs: '600000', requestTimeoutMs: '600000' });
    const child = spawnDr(['list', '--json', '--storage', url], env);
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await proxy.waitFor('ListObjectsV2', 'stall');
    child.kill('SIGTERM');
    expect(await exited).toBe(3);
    expect(JSON.parse(stdout).error.code).toBe('ABORTED');
  }, 30_000);

  describe('a download dropped during dr verify', () => {
    let id: string;
    beforeAll(async () => {
      // s3rver assembles the parts in CompleteMultipartUpload without a byte on the wire for a while
      const r = await runDr(
        backupArgs(storage({ socketTimeoutMs: '30000', requestTimeoutMs: '60000' })),
        env,
        60_000,
      );
      expect(r.code, r.stdout).toBe(0);
      // no warning of the SDK's HTTP handler nor of Node's (listeners on the command's signal)
      expect(r.stderr).toBe('');
      id = r.json.id;
    }, 90_000);

    it('dropped every time: read again, then exit 3 STORAGE_FAILED, not a failed verification', async () => {
      proxy.fault({
        op: 'GetObject',
        match: (q) => q.path.endsWith('.db.zst'),
        fault: { kind: 'cut', afterBytes: 4 << 20 },
      });
      const r = await runDr(['verify', id, '--json', '--storage', storage()], env, 60_000);
      expect(r.code).toBe(3);
      expect(r.json.error.code).toBe('STORAGE_FAILED');
      expect(r.json.error.message).toContain('ECONNRESET');
      expect(r.json.error.message).toContain('read 3 times');
      // three reads of the object, each cut
      expect(proxy.requests.filter((q) => q.op === 'GetObject' && q.outcome === 'cut')).toHaveLength(3);
      // the catalog records no verdict: the backup was not found bad
      const list = await runDr(['list', '--json', '--storage', storage()], env);
      const b = list.json.backups.find((x: { id: string }) => x.id === id);
      expect(b.verifyOk ?? null).toBeNull();
    }, 90_000);

    it('dr fetch: dropped once, read again and written whole; dropped every time, exit 3 and no file', async () => {
      const cut = { op: 'GetObject' as const, match: (q: { path: string }) => q.path.endsWith('.db.zst') };
      const outDir = path.join(dir, 'fetched');
      await mkdir(outDir);
      proxy.fault({ ...cut, fault: { kind: 'cut', afterBytes: 4 << 20 }, times: 1 });
      const once = await runDr(
        ['fetch', id, '--out', path.join(outDir, 'once.db'), '--json', '--storage', storage()],
        env,
        60_000,
      );
      expect(once.code, once.stdout).toBe(0);
      expect(filesBelow(outDir)).toEqual(['once.db']);

      proxy.fault({ ...cut, fault: { kind: 'cut', afterBytes: 4 << 20 } });
      const never = await runDr(
        ['fetch', id, '--out', path.join(outDir, 'never.db'), '--json', '--storage', storage()],
        env,
        60_000,
      );
      expect(never.code).toBe(3);
      expect(never.json.error.code).toBe('STORAGE_FAILED');
      expect(never.json.error.message).toContain('read 3 times');
      // neither the file nor a partial copy of it
      expect(filesBelow(outDir)).toEqual(['once.db']);
    }, 90_000);

    it('dropped once: the second read passes and verify says OK', async () => {
      proxy.fault({
        op: 'GetObject',
        match: (q) => q.path.endsWith('.db.zst'),
        fault: { kind: 'cut', afterBytes: 4 << 20 },
        times: 1,
      });
      const r = await runDr(['verify', id, '--json', '--storage', storage()], env, 60_000);
      expect(r.code).toBe(0);
      expect(r.json.ok).toBe(true);
      expect(proxy.requests.filter((q) => q.op === 'GetObject' && q.outcome === 'cut')).toHaveLength(1);
    }, 90_000);
  });

  it('SIGKILL mid-upload, three times: never a visible backup, the leftovers are incomplete uploads only', async () => {
    proxy.fault({
      op: 'UploadPart',
      match: (q) => q.query.get('partNumber') === '2',
      fault: { kind: 'stall' },
    });
    const before = await s3.pendingUploads();
    for (let i = 0; i < 3; i++) {
      proxy.requests.length = 0;
      const child = spawnDr(
        // a prefix of its own: the backups committed by the tests above stay out of the picture
        backupArgs(storage({ socketTimeoutMs: '600000', requestTimeoutMs: '600000' }, 'killed')),
        env,
      );
      const exited = new Promise<string | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
      await proxy.waitFor('UploadPart', 'stall');
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    }
    await expectNothingVisible('killed');
    // what a kill -9 leaves: uploads nobody completed, which `dr gc` / the daemon's clean-up abort on a
    // server that lists them (s3rver does not)
    expect((await s3.pendingUploads()).filter((u) => !before.includes(u))).toHaveLength(3);
  }, 90_000);

  it('SIGKILL while writing to file://, three times: never a visible backup; dr gc removes every temp file', async () => {
    const root = path.join(dir, 'local');
    const url = `file://${root}`;
    let killed = 0;
    for (let tries = 0; killed < 3 && tries < 20; tries++) {
      const child = spawnDr(backupArgs(url), env);
      const exited = new Promise<string | null>((resolve) => child.on('close', (_c, sig) => resolve(sig)));
      let done = false;
      void exited.then(() => (done = true));
      const before = new Set(filesBelow(root));
      const isNewTemp = (f: string) => /\.tmp-[0-9a-f]{16}$/.test(f) && !before.has(f);
      while (!done && !filesBelow(root).some(isNewTemp)) {
        await new Promise((r) => setTimeout(r, 5));
      }
      if (!done) child.kill('SIGKILL');
      if ((await exited) === 'SIGKILL') killed++;
    }
    expect(killed).toBe(3);
    const list = await runDr(['list', '--json', '--storage', url], env);
    const committed = list.json.backups.map((b: { id: string }) => b.id);
    // every manifest belongs to a backup that ran to the end; the killed ones left temp files only
    const files = filesBelow(root);
    expect(files.filter((f) => f.endsWith('.manifest.json'))).toHaveLength(committed.length);
    expect(files.filter((f) => /\.tmp-[0-9a-f]{16}$/.test(f)).length).toBeGreaterThanOrEqual(3);
    const gc = await runDr(['gc', '--json', '--min-age', '0', '--storage', url], env);
    expect(gc.code).toBe(0);
    expect(gc.json.incompleteUploadsRemoved).toBeGreaterThanOrEqual(3);
    expect(filesBelow(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect((await runDr(['list', '--json', '--storage', url], env)).json.backups).toHaveLength(
      committed.length,
    );
  }, 120_000);

  it('dr gc on a server without ListMultipartUploads (s3rver answers 501): exit 0, nothing to remove', async () => {
    const r = await runDr(['gc', '--json', '--storage', storage()], env, 60_000);
    expect(r.code).toBe(0);
    expect(r.json.incompleteUploadsRemoved).toBe(0);
    expect(proxy.requests.filter((q) => q.op === 'ListMultipartUploads')).toHaveLength(1);
  }, 60_000);
});
