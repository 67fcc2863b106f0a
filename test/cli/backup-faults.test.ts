/**
 * What `dr backup` does with bad input and faults: a clear error naming the thing at fault, the documented
 * exit code, and nothing visible in storage.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { filesBelow, runDr, spawnDr } from '../helpers/dr.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

async function fill(endpoint: string, megabytes: number): Promise<void> {
  const client = createEtcdClient({ endpoints: [endpoint] });
  try {
    const value = Buffer.alloc(64 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7919 + megabytes) & 0xff; // poorly compressible
    for (let batch = 0; batch < megabytes / 4; batch++) {
      await client.txnPuts(Array.from({ length: 64 }, (_, i) => ({ key: `/fill/${batch}/${i}`, value })));
    }
  } finally {
    client.close();
  }
}

describe('dr backup: bad input and faults', () => {
  let c: TestCluster;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let storeDir: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    c = await startTestCluster({ size: 1 });
    await fill(c.endpoints[0]!, 48);
    storeDir = path.join(dir, 'store');
    env = { DR_STORAGE: `file://${storeDir}`, DR_CATALOG: path.join(dir, 'catalog.sqlite') };
  });
  afterAll(async () => {
    await c?.stop();
    await cleanup?.();
  });

  it('unreachable endpoints: exit 3, ETCD_UNREACHABLE naming every endpoint, nothing stored', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const r = await runDr(
      ['backup', '--endpoints', `127.0.0.1:${p1},127.0.0.1:${p2}`, '--dial-timeout', '1000', '--json'],
      env,
    );
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('ETCD_UNREACHABLE');
    expect(r.json.error.message).toContain(`127.0.0.1:${p1}`);
    expect(r.json.error.message).toContain(`127.0.0.1:${p2}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(filesBelow(storeDir)).toEqual([]);
  });

  it.each([
    ['file://relative/dir', /host|absolute/i],
    ['ftp://host/x', /scheme/i],
    ['s3://', /bucket/i],
    ['s3://bucket/p?endpoint=not a url', /endpoint/i],
    ['s3://bucket/p?bogus=1', /bogus/],
    ['s3://bucket/p?partSizeMiB=4', /partSize/i],
  ])('malformed --storage %s: exit 2 with the reason', async (url, reason) => {
    const r = await runDr(['backup', '--endpoints', c.endpoints[0]!, '--storage', url, '--json'], {});
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('STORAGE_URL_INVALID');
    expect(r.json.error.message).toMatch(reason);
  });

  it('malformed flags: exit 2 with the reason, one JSON document under --json', async () => {
    const cases: [string[], RegExp][] = [
      [['backup', '--endpoints', c.endpoints[0]!, '--compression-level', '99'], /compression-level/],
      [['backup', '--endpoints', c.endpoints[0]!, '--snapshot-from', 'nobody'], /snapshot-from/],
      [['backup', '--endpoints', 'http://127.0.0.1:1/x/y'], /endpoints/],
      [['backup', '--storage', `file://${storeDir}`], /endpoints/],
      [['backup', '--endpoints', c.endpoints[0]!, '--no-such-flag'], /unknown option/],
      [['backup', '--endpoints', c.endpoints[0]!, '--dial-timeout', 'soon'], /dial-timeout/],
      [['backup', '--endpoints', c.endpoints[0]!, '--user', 'root'], /password/],
      [['verify'], /--latest/],
    ];
    for (const [args, reason] of cases) {
      const r = await runDr([...args, '--json'], {
        ...env,
        DR_STORAGE: args.includes('--storage') ? undefined : env.DR_STORAGE,
      });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.json?.error?.message, args.join(' ')).toMatch(reason);
      // all of stdout is one JSON document (printed over several lines): JSON.parse throws on anything else
      const doc = JSON.parse(r.stdout) as { ok?: unknown; error?: { code?: unknown } };
      expect(doc.ok, args.join(' ')).toBe(false);
      expect(doc.error?.code, args.join(' ')).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });

  it('an unreadable certificate file is a configuration error (exit 2) naming the file', async () => {
    const r = await runDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--cacert', path.join(dir, 'nope.pem'), '--json'],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('TLS_FILE_UNREADABLE');
    expect(r.json.error.message).toContain('nope.pem');
  });

  it('the member killed mid-stream: exit 3 SNAPSHOT_STREAM_FAILED, nothing visible, nothing left behind', async () => {
    const child = spawnDr(
      ['backup', '--endpoints', c.endpoints[0]!, '--compression-level', '0', '--json'],
      env,
    );
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // kill the member once the snapshot is flowing: the upload's temp file in storage has grown
    const deadline = Date.now() + 30_000;
    for (;;) {
      const sizes = await Promise.all(
        filesBelow(storeDir).map((f) => stat(path.join(storeDir, f)).then((s) => s.size)),
      );
      if (sizes.some((s) => s > 1 << 20)) break;
      if (Date.now() > deadline) throw new Error('snapshot never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.kill(0);
    expect(await closed).toBe(3);
    expect(JSON.parse(stdout).error.code).toBe('SNAPSHOT_STREAM_FAILED');
    expect(filesBelow(storeDir)).toEqual([]);
  });
});

describe('dr backup: disk full on file:// storage (a real 2 MiB tmpfs)', () => {
  let c: TestCluster;
  let dir: string;
  let mnt: string;
  let cleanup: () => Promise<void>;
  let mounted = false;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    mnt = path.join(dir, 'small');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    mounted = true;
    c = await startTestCluster({ size: 1 });
    await fill(c.endpoints[0]!, 8);
  });
  afterAll(async () => {
    await c?.stop();
    if (mounted) execFileSync('umount', ['-l', mnt]);
    await cleanup?.();
  });

  it('exit 3 STORAGE_NO_SPACE, nothing visible, the space is given back', async () => {
    const r = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints[0]!,
        '--storage',
        `file://${mnt}/backups`,
        '--compression-level',
        '0',
        '--json',
      ],
      { DR_CATALOG: path.join(dir, 'catalog.sqlite') },
    );
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('STORAGE_NO_SPACE');
    expect(filesBelow(mnt)).toEqual([]);
  });
});
