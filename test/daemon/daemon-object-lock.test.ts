/**
 * The start-up check of Object Lock: the daemon (and `dr backup`) ask the bucket of a locked policy
 * whether it has versioning and Object Lock enabled, and refuse to start otherwise. s3rver implements
 * neither question, so the recording proxy in front of it answers them. The config refuses a locked
 * policy on a file:// target, or with retention that never ends. No etcd is needed: the daemon runs no
 * backup (no catch-up, a yearly schedule), and `dr backup` refuses before it contacts etcd.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DrError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { startDaemon } from '../../src/daemon/run-daemon.js';
import { runDr } from '../helpers/dr.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { freePorts } from '../helpers/ports.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

const VERSIONING = (status: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>${status}</Status></VersioningConfiguration>`;
const LOCK_ON =
  '<?xml version="1.0" encoding="UTF-8"?><ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>';

let s3: S3rverHandle;
let proxy: FaultProxy;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  [s3, tmp] = await Promise.all([startS3rver('dr-daemon-lock'), tempDir('dr-daemon-lock-')]);
  proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await tmp?.cleanup();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.requests.length = 0;
});

function bucket(versioning: string): void {
  proxy.fault({
    op: 'GetBucketVersioning',
    fault: { kind: 'answer', status: 200, body: VERSIONING(versioning) },
  });
  proxy.fault({ op: 'GetObjectLockConfiguration', fault: { kind: 'answer', status: 200, body: LOCK_ON } });
}

const lockedUrl = (): string =>
  `s3://${s3.bucket}/locked/?${new URLSearchParams({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: 'true',
    checksum: 'crc32c',
  }).toString()}`;

async function config(name: string, o: { url: string; retention?: string }): Promise<string> {
  const [etcdPort, httpPort] = await freePorts(2);
  const file = path.join(tmp.dir, `${name}.yaml`);
  await writeFile(
    file,
    `
clusters:
  - name: c1
    endpoints: ["127.0.0.1:${etcdPort}"]
storage:
  - name: vault
    url: ${JSON.stringify(o.url)}
policies:
  - name: yearly
    cluster: c1
    schedule: "0 0 1 1 *"
    storage: [vault]
    retention: ${o.retention ?? '{ keepDaily: 7 }'}
    objectLock: { mode: compliance }
server:
  listen: 127.0.0.1:${httpPort}
catalog:
  path: ./${name}.sqlite
`,
  );
  return file;
}

async function start(configFile: string): Promise<() => Promise<void>> {
  const shutdown = new AbortController();
  const handle = await startDaemon({
    configFile,
    env: {},
    logger: createLogger(process.env.DR_TEST_LOG ?? 'silent'),
    signal: shutdown.signal,
    graceMs: 1000,
    daemon: { catchUp: false, cleanupEverySeconds: null },
  });
  return async () => {
    shutdown.abort();
    await handle.stopped.catch(() => undefined);
  };
}

describe('daemon start with a locked policy', () => {
  it('starts when the bucket has versioning and Object Lock, having asked it', async () => {
    bucket('Enabled');
    const stop = await start(await config('ok', { url: lockedUrl() }));
    await stop();
    expect(proxy.requests.map((r) => r.op)).toEqual(
      expect.arrayContaining(['GetBucketVersioning', 'GetObjectLockConfiguration']),
    );
  });

  it('refuses to start when versioning is suspended, naming the bucket', async () => {
    bucket('Suspended');
    const err = await start(await config('suspended', { url: lockedUrl() })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect((err as DrError).message).toMatch(/bucket dr-daemon-lock .*versioning is suspended/);
  });
});

describe('config of a locked policy', () => {
  it('refuses a file:// target and retention that never ends', async () => {
    const onFile = await config('file', { url: `file://${tmp.dir}/backups` });
    expect(() => loadConfig(onFile, { env: {}, offline: true })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        details: expect.objectContaining({
          errors: expect.arrayContaining([
            expect.objectContaining({ message: expect.stringMatching(/objectLock needs s3:\/\/ targets/) }),
          ]),
        }),
      }),
    );
    const forever = await config('forever', { url: lockedUrl(), retention: '{ keepDaily: -1 }' });
    expect(() => loadConfig(forever, { env: {}, offline: true })).toThrow(
      expect.objectContaining({
        details: expect.objectContaining({
          errors: expect.arrayContaining([
            expect.objectContaining({ message: expect.stringMatching(/keepDaily -1 keeps backups forever/) }),
          ]),
        }),
      }),
    );
  });
});

describe('dr backup with a lock', () => {
  it('refuses a target that cannot lock, exit 2, before asking etcd', async () => {
    const onFile = await runDr([
      'backup',
      '--endpoints',
      '127.0.0.1:1',
      '--storage',
      `file://${tmp.dir}/plain`,
      '--object-lock',
      'governance',
      '--lock-for',
      '30d',
    ]);
    expect(onFile.code).toBe(2);
    expect(onFile.stderr).toMatch(/OBJECT_LOCK_UNAVAILABLE/);
    expect(onFile.stderr).not.toMatch(/ETCD_UNREACHABLE/);

    bucket('Suspended');
    const suspended = await runDr([
      'backup',
      '--endpoints',
      '127.0.0.1:1',
      '--storage',
      lockedUrl(),
      '--object-lock',
      'compliance',
      '--lock-for',
      '30d',
    ]);
    expect(suspended.code).toBe(2);
    expect(suspended.stderr).toMatch(/versioning is suspended/);
    expect(proxy.requests.filter((r) => r.op === 'PutObject' || r.op === 'CreateMultipartUpload')).toEqual(
      [],
    );
  });
});
