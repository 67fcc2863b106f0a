/**
 * `dr backup --storage azblob://...` end to end against a real etcd member and a real Azurite over HTTP:
 * a backup staged in several blocks (blockSizeMiB=1), `verify --deep`, `list`, a byte flipped in the
 * stored blob; the Azure SDK loaded only for azblob:// URLs (and @azure/identity only when no storage
 * credential is in the environment); a missing container fails with exit 3 and leaves nothing.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { startAzurite, type AzuriteHandle } from '../helpers/azurite.js';
import { DR_UNBUNDLED, runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;

/** A module hook that appends every resolved @azure/ or @aws-sdk/ module URL to $DR_TEST_MODULE_LOG. */
async function moduleLogger(
  dir: string,
): Promise<{ nodeOptions: string; loaded: (log: string) => string[] }> {
  const hooks = path.join(dir, 'log-hooks.mjs');
  const register = path.join(dir, 'log-register.mjs');
  await writeFile(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (/\\/node_modules\\/(@azure|@aws-sdk)\\//.test(r.url)) appendFileSync(process.env.DR_TEST_MODULE_LOG, r.url + '\\n');
  return r;
}
`,
  );
  await writeFile(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`,
  );
  return {
    nodeOptions: `--import ${register}`,
    loaded: (log) => {
      if (!existsSync(log)) return [];
      const text = readFileSync(log, 'utf8');
      const pkgs = text
        .split('\n')
        .filter(Boolean)
        .map((u) => /\/node_modules\/((?:@azure|@aws-sdk)\/[^/]+)\//.exec(u)?.[1] ?? u);
      return [...new Set(pkgs)].sort();
    },
  };
}

describe('dr backup to azblob:// (Azurite) on a real etcd member', () => {
  let c: TestCluster;
  let az: AzuriteHandle;
  let dir: string;
  let cleanup: () => Promise<void>;
  let env: Record<string, string>;
  let id: string;
  let storedKey: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    [c, az] = await Promise.all([startTestCluster({ size: 1 }), startAzurite('dr-backups')]);
    const client = createEtcdClient({ endpoints: c.endpoints });
    try {
      // random values: zstd cannot shrink them, so the stored blob spans several 1 MiB blocks
      for (let batch = 0; batch < 3; batch++) {
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
      DR_STORAGE: az.url('etcd', { blockSizeMiB: '1', queueSize: '2' }),
      DR_CATALOG: path.join(dir, 'catalog.sqlite'),
      AZURE_STORAGE_KEY: az.env.AZURE_STORAGE_KEY!,
    };
  });
  afterAll(async () => {
    await Promise.all([c?.stop(), az?.stop()]);
    await cleanup?.();
  });

  it('backup stages the blob in blocks and commits it; the manifest follows', async () => {
    const r = await runDr(
      [
        'backup',
        '--endpoints',
        c.endpoints.join(','),
        '--cluster-name',
        'prod',
        '--compression-level',
        '1',
        '--json',
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    id = r.json.id;
    storedKey = r.json.stored.key;
    expect(storedKey).toBe(`prod/${id}.db.zst`);
    expect(r.json.stored.size).toBeGreaterThan(3 * MiB);
    const blob = az.containerClient().getBlockBlobClient(`etcd/${storedKey}`);
    const blocks = await blob.getBlockList('committed');
    expect(blocks.committedBlocks?.length).toBe(Math.ceil(r.json.stored.size / MiB));
    const names: string[] = [];
    for await (const b of az.containerClient().listBlobsFlat({ prefix: 'etcd/' })) names.push(b.name);
    expect(names.sort()).toEqual([`etcd/prod/${id}.db.zst`, `etcd/prod/${id}.manifest.json`]);
    expect(await az.uncommittedBlobs()).toEqual([]);
  });

  it('verify --deep passes and list shows the backup', async () => {
    const v = await runDr(['verify', id, '--deep', '--json'], env);
    expect(v.code).toBe(0);
    expect(v.json.ok).toBe(true);
    expect(v.json.checks.map((x: { check: string }) => x.check)).toContain('snapshot-status');
    expect(v.json.checks.every((x: { ok: boolean }) => x.ok)).toBe(true);
    const list = await runDr(['list', '--json'], env);
    expect(list.code).toBe(0);
    expect(list.json.backups.map((b: { id: string }) => b.id)).toEqual([id]);
  });

  it('a byte flipped in the stored blob fails verify with exit 1 naming stored-sha256', async () => {
    const blob = az.containerClient().getBlockBlobClient(`etcd/${storedKey}`);
    const saved = await blob.downloadToBuffer();
    const bad = Buffer.from(saved);
    bad[Math.floor(bad.length / 2)]! ^= 0x01;
    await blob.uploadData(bad);
    try {
      const r = await runDr(['verify', id, '--json'], env);
      expect(r.code).toBe(1);
      expect(r.json.checks.find((x: { check: string }) => x.check === 'stored-sha256').ok).toBe(false);
    } finally {
      await blob.uploadData(saved);
    }
    expect((await runDr(['verify', id, '--json'], env)).code).toBe(0);
  });

  it('container missing: exit 3 STORAGE_NOT_FOUND, no stack trace, nothing created', async () => {
    const url = az.url('etcd').replace('azblob://dr-backups/', 'azblob://no-such-container/');
    const r = await runDr(['backup', '--endpoints', c.endpoints.join(','), '--storage', url, '--json'], env);
    expect(r.code).toBe(3);
    expect(r.json.error.code).toBe('STORAGE_NOT_FOUND');
    expect(r.json.error.message).toContain('no-such-container');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await az.containerClient('no-such-container').exists()).toBe(false);
  });

  it('the Azure SDK is loaded for azblob:// only, @azure/identity only without a storage credential', async () => {
    const hook = await moduleLogger(dir);
    const run = async (name: string, args: string[], extra: Record<string, string | undefined>) => {
      const log = path.join(dir, `${name}.modules`);
      // the unbundled CLI: its module graph names the packages (the bundle has the same lazy chunks)
      const r = await runDr(
        args,
        { ...env, NODE_OPTIONS: hook.nodeOptions, DR_TEST_MODULE_LOG: log, ...extra },
        120_000,
        DR_UNBUNDLED,
      );
      return { r, loaded: hook.loaded(log) };
    };
    await mkdir(path.join(dir, 'store'));
    const file = await run('file', ['list', '--storage', `file://${dir}/store`, '--json'], {});
    expect(file.r.code, file.r.stderr).toBe(0);
    expect(file.loaded).toEqual([]);

    const withKey = await run('azblob', ['list', '--json'], {});
    expect(withKey.r.code, withKey.r.stderr).toBe(0);
    expect(withKey.loaded).toContain('@azure/storage-blob');
    expect(withKey.loaded).not.toContain('@azure/identity');
    expect(withKey.loaded.filter((p) => p.startsWith('@aws-sdk/'))).toEqual([]);

    // No storage credential at all: the chain falls through to DefaultAzureCredential, which finds no
    // identity here (no service principal, no managed identity endpoint, no az login).
    const port = await freePort();
    const noCred = {
      AZURE_STORAGE_KEY: undefined,
      AZURE_STORAGE_CONNECTION_STRING: undefined,
      AZURE_STORAGE_SAS_TOKEN: undefined,
    };
    const closed = (scheme: string): string =>
      `azblob://dr-backups/etcd?account=devstoreaccount1&endpoint=${scheme}://127.0.0.1:${port}/devstoreaccount1&maxAttempts=1`;
    const identity = await run('identity', ['list', '--storage', closed('https'), '--json'], noCred);
    expect(identity.loaded).toContain('@azure/identity');
    expect(identity.r.code).toBe(3);
    expect(identity.r.json.error.code).toBe('STORAGE_ACCESS_DENIED');
    expect(identity.r.json.error.message).toContain('AZURE_STORAGE_KEY');
    expect(identity.r.stderr).not.toMatch(/\n\s+at /);
    // a token is never sent in clear text: refused before the identity library is even loaded
    const http = await run('http', ['list', '--storage', closed('http'), '--json'], noCred);
    expect(http.r.code).toBe(2);
    expect(http.r.json.error.code).toBe('STORAGE_URL_INVALID');
    expect(http.loaded).not.toContain('@azure/identity');
  }, 120_000);
});
