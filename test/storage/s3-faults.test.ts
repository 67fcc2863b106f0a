/**
 * s3:// faults against a real s3rver over HTTP (and a closed port):
 *  - unreachable endpoint: nothing listens on the port; the SDK gets ECONNREFUSED;
 *  - bucket missing: s3rver answers NoSuchBucket (and a bare 404 to HEAD);
 *  - access denied: s3rver rejects an unknown access key id (InvalidAccessKeyId). It does NOT verify
 *    SigV4 signatures, so a wrong *secret* with a known key id is accepted: that case cannot be shown
 *    with s3rver. With no credentials at all the AWS chain fails before any request;
 *  - failed multipart put: s3rver keeps parts until aborted but implements no AbortMultipartUpload, so
 *    the test proves the backend asked to abort exactly the upload it created.
 */
import { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { S3Backend } from '../../src/storage/s3/s3-backend.js';
import { parseStorageUrl, type S3StorageUrl } from '../../src/storage/url.js';
import { freePort } from '../helpers/ports.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { randomBody } from './conformance.js';
import { recordRefusedAborts } from './s3-test-utils.js';

const MiB = 1024 * 1024;

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrError);
  return err as DrError;
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

function captureLogs(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  return {
    logger: pino({ level: 'debug' }, sink),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('s3:// faults', () => {
  let s3: S3rverHandle;

  beforeAll(async () => {
    s3 = await startS3rver('present');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('unreachable endpoint (closed port): STORAGE_UNREACHABLE, transient, retried a bounded number of times', async () => {
    const port = await freePort(); // free, and nothing will listen on it
    const url = `s3://present/x?endpoint=http://127.0.0.1:${port}&region=us-east-1&forcePathStyle=true&maxAttempts=1&connectTimeoutMs=2000`;
    const { logger, lines } = captureLogs();
    const b = await openBackend(url, { logger, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    try {
      const err = await failure(b.check());
      expect(err.code).toBe('STORAGE_UNREACHABLE');
      expect(err.exitCode).toBe(3);
      expect(err.details.transient).toBe(true);
      expect(err.message).toContain(`127.0.0.1:${port}`);
      expect(err.message).toContain('bucket present');
      expect(err.message).toContain('ECONNREFUSED');
      expect(err.message).toContain('gave up after 3 attempts');
      console.log(`sample message:\n  ${err.message}`);
      expect(lines().filter((l) => l.msg === 'storage: transient failure, retrying')).toHaveLength(2);
      expect(lines().filter((l) => l.op === 'check' && l.msg === 'storage op failed')).toHaveLength(3);

      const putErr = await failure(b.put('k', Readable.from([Buffer.from('data')])));
      expect(putErr.code).toBe('STORAGE_UNREACHABLE');
      expect(putErr.message).toContain('"x/k"');
      expect((await failure(b.stat('k'))).code).toBe('STORAGE_UNREACHABLE');
      expect((await failure(drain(b.list('')))).code).toBe('STORAGE_UNREACHABLE');
    } finally {
      await b.close();
    }
  });

  it('bucket missing: STORAGE_NOT_FOUND naming the bucket, for check, put, list and stat', async () => {
    const b = await openBackend(s3.url('p/').replace('s3://present/', 's3://absent-bucket/'), {
      retry: false,
    });
    try {
      const err = await failure(b.check());
      expect(err.code).toBe('STORAGE_NOT_FOUND');
      expect(err.message).toContain('bucket absent-bucket does not exist');
      console.log(`sample message:\n  ${err.message}`);
      expect(err.details.transient).toBe(false);
      const putErr = await failure(b.put('obj', Readable.from([Buffer.from('data')])));
      expect(putErr.code).toBe('STORAGE_NOT_FOUND');
      expect(putErr.message).toContain('absent-bucket');
      const listErr = await failure(drain(b.list('')));
      expect(listErr.code).toBe('STORAGE_NOT_FOUND');
      expect(listErr.message).toContain('absent-bucket');
      // HEAD answers have no body: the message says both are possible, and names the bucket.
      const statErr = await failure(b.stat('obj'));
      expect(statErr.code).toBe('STORAGE_NOT_FOUND');
      expect(statErr.message).toContain('absent-bucket');
    } finally {
      await b.close();
    }
  });

  it('unknown access key: STORAGE_ACCESS_DENIED, not retried, nothing written', async () => {
    const url = parseStorageUrl(s3.url('denied/')) as S3StorageUrl;
    const { logger, lines } = captureLogs();
    const bad = await openBackend(s3.url('denied/'), {
      logger,
      retry: { attempts: 4, baseDelayMs: 1 },
      credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'whatever' },
    });
    const good = new S3Backend(url);
    try {
      const err = await failure(bad.check());
      expect(err.code).toBe('STORAGE_ACCESS_DENIED');
      expect(err.details.s3Code).toBe('InvalidAccessKeyId');
      expect(err.details.transient).toBe(false);
      expect(err.message).toContain('bucket present');
      expect(err.message).not.toContain('whatever');
      // A permanent error: one attempt only.
      expect(lines().filter((l) => l.op === 'check')).toHaveLength(1);
      console.log(`sample message:\n  ${err.message}`);
      const putErr = await failure(bad.put('obj', Readable.from([Buffer.from('secret data')])));
      expect(putErr.code).toBe('STORAGE_ACCESS_DENIED');
      expect((await failure(bad.stat('obj'))).code).toBe('STORAGE_ACCESS_DENIED');
      expect(await drain(good.list(''))).toBe(0);
    } finally {
      await bad.close();
      await good.close();
    }
  });

  it('no credentials anywhere in the AWS chain: STORAGE_ACCESS_DENIED before any request', async () => {
    const saved = { ...process.env };
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_PROFILE;
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    const b = new S3Backend(parseStorageUrl(s3.url('nocreds/')) as S3StorageUrl);
    try {
      const err = await failure(b.check());
      expect(err.code).toBe('STORAGE_ACCESS_DENIED');
      expect(err.message).toContain('no credentials');
    } finally {
      process.env = saved;
      await b.close();
    }
  });

  it('a multipart put that fails mid-stream asks the server to abort exactly the upload it created', async () => {
    const { logger, lines } = captureLogs();
    const b = new S3Backend(parseStorageUrl(s3.url('orphan/')) as S3StorageUrl, { logger });
    const refused = recordRefusedAborts(b);
    const before = await s3.pendingUploads();
    try {
      const boom = new Error('etcd stream cut');
      const err = await b
        .put('big.snap.zst', randomBody(40 * MiB, { failAt: 20 * MiB, failWith: boom }).stream)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBe(boom);
      const created = (await s3.pendingUploads()).filter((u) => !before.includes(u));
      // 20 MiB > one 16 MiB part: a multipart upload really was started...
      expect(created).toHaveLength(1);
      // ...and the backend asked to abort it (s3rver refuses: it has no AbortMultipartUpload)...
      expect(await refused()).toContain(created[0]);
      // ...and says so in a warning naming the upload, so an operator can clean up.
      const warn = lines().find((l) => l.uploadId === created[0]);
      expect(warn?.msg).toContain('could not abort');
      await expect(b.stat('big.snap.zst')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
    } finally {
      await b.close();
    }
  });

  it('lists across ListObjectsV2 pages without losing or repeating keys', async () => {
    const url = parseStorageUrl(s3.url('paged/')) as S3StorageUrl;
    const b = new S3Backend(url, { listPageSize: 2 });
    let pages = 0;
    b.client.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === 'ListObjectsV2Command') pages++;
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const keys = ['a', 'b', 'c/d', 'c/e', 'f'];
      for (const k of keys) await b.put(k, Readable.from([Buffer.from(k)]));
      const seen: string[] = [];
      for await (const o of b.list('')) seen.push(o.key);
      expect(seen.sort()).toEqual(keys);
      expect(pages).toBe(3);
    } finally {
      await b.close();
    }
  });

  it('stat reports the Object Lock retain-until date when the server sends one', async () => {
    // s3rver has no Object Lock; the header is added to its real HEAD answer below the SDK's parser,
    // so what is tested is our mapping of the SDK's field, not a fake server.
    const b = new S3Backend(parseStorageUrl(s3.url('locked/')) as S3StorageUrl);
    b.client.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const res = out.response as { headers?: Record<string, string> };
        if (res.headers) res.headers['x-amz-object-lock-retain-until-date'] = '2031-01-02T03:04:05.000Z';
        return out;
      },
      { step: 'deserialize', priority: 'low' },
    );
    try {
      await b.put('obj', Readable.from([Buffer.from('x')]));
      const info = await b.stat('obj');
      expect(info.retainUntil?.toISOString()).toBe('2031-01-02T03:04:05.000Z');
    } finally {
      await b.close();
    }
    const plain = new S3Backend(parseStorageUrl(s3.url('locked/')) as S3StorageUrl);
    try {
      expect(await plain.stat('obj')).not.toHaveProperty('retainUntil');
    } finally {
      await plain.close();
    }
  });

  it('openBackend composes logging: one debug line per operation with the location, no secret', async () => {
    const { logger, lines } = captureLogs();
    const b = await openBackend(s3.url('logged/'), { logger });
    try {
      await b.put('one', Readable.from([Buffer.from('1')]));
      await b.stat('one');
      await drain(b.list(''));
      const ops = lines().filter((l) => l.msg === 'storage op');
      expect(ops.map((l) => l.op)).toEqual(['put', 'stat', 'list']);
      expect(ops[0]?.storage).toBe(`s3://present/logged/ (endpoint ${s3.endpoint})`);
      expect(JSON.stringify(lines())).not.toContain(process.env.AWS_SECRET_ACCESS_KEY);
    } finally {
      await b.close();
    }
  });
});
