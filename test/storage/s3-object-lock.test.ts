/**
 * What the s3:// backend sends for Object Lock, request checksums and conditional writes, seen by a
 * recording proxy in front of a real s3rver (test/helpers/fault-proxy.ts). s3rver implements neither
 * GetBucketVersioning nor GetObjectLockConfiguration, so the proxy answers those itself: a bucket with
 * both enabled, or one that lacks them.
 *
 * What must hold: with a lock, PutObject (small objects) and CreateMultipartUpload (large ones) carry
 * the mode and the retain-until date the policy computed; a bucket without versioning or Object Lock,
 * a check that is refused, or a target without checksums refuses before any object is written. With
 * checksum=crc32c|sha256 every upload request carries the checksum header (the sha256 one equal to the
 * body's digest); with checksum off (a custom endpoint's default) none does. With conditionalWrites the
 * lease's create carries If-None-Match: * and a 412 answer means "exists".
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import type { Backend } from '../../src/storage/backend.js';
import { withObjectLock } from '../../src/storage/object-lock.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { parseStorageUrl } from '../../src/storage/url.js';
import { startFaultProxy, type FaultProxy, type RecordedRequest } from '../helpers/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';

const MiB = 1024 * 1024;
const VERSIONING_ON =
  '<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>';
const VERSIONING_SUSPENDED = VERSIONING_ON.replace('Enabled', 'Suspended');
const LOCK_ON =
  '<?xml version="1.0" encoding="UTF-8"?><ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>';

let s3: S3rverHandle;
let proxy: FaultProxy;
const opened: Backend[] = [];

beforeAll(async () => {
  s3 = await startS3rver('dr-lock');
  proxy = await startFaultProxy(s3.endpoint);
});
afterAll(async () => {
  for (const b of opened) await b.close();
  await proxy?.close();
  await s3?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.requests.length = 0;
});

async function backend(prefix: string, params: Record<string, string> = {}): Promise<Backend> {
  const url = `s3://${s3.bucket}/${prefix}?${new URLSearchParams({
    endpoint: proxy.endpoint,
    region: 'us-east-1',
    forcePathStyle: 'true',
    ...params,
  }).toString()}`;
  const b = await openBackend(url, { retry: false });
  opened.push(b);
  return b;
}

function bucketLocks(versioning = VERSIONING_ON): void {
  proxy.fault({ op: 'GetBucketVersioning', fault: { kind: 'answer', status: 200, body: versioning } });
  proxy.fault({ op: 'GetObjectLockConfiguration', fault: { kind: 'answer', status: 200, body: LOCK_ON } });
}

const sent = (op: RecordedRequest['op']): RecordedRequest[] => proxy.requests.filter((r) => r.op === op);
const checksumHeaders = (r: RecordedRequest): string[] =>
  Object.keys(r.headers).filter(
    (h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm',
  );

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrError);
  return err as DrError;
}

describe('storage URL: checksum and conditionalWrites', () => {
  it('default on for AWS, off for a custom endpoint, and parsed when given', () => {
    const aws = parseStorageUrl('s3://bkt/p');
    expect(aws.scheme === 's3' && [aws.checksum, aws.conditionalWrites]).toEqual(['SHA256', true]);
    const custom = parseStorageUrl('s3://bkt/p?endpoint=http://h:1');
    expect(custom.scheme === 's3' && [custom.checksum, custom.conditionalWrites]).toEqual([null, false]);
    const asked = parseStorageUrl('s3://bkt/p?endpoint=http://h:1&checksum=sha256&conditionalWrites=true');
    expect(asked.scheme === 's3' && [asked.checksum, asked.conditionalWrites]).toEqual(['SHA256', true]);
    const off = parseStorageUrl('s3://bkt/p?checksum=off');
    expect(off.scheme === 's3' && off.checksum).toBeNull();
    expect(() => parseStorageUrl('s3://bkt/p?checksum=md5')).toThrow(
      /checksum" must be crc32c, sha256 or off/,
    );
  });
});

describe('s3 request checksums', () => {
  it('off on a custom endpoint by default: no checksum header on any upload request', async () => {
    const b = await backend('sum-off/');
    await b.put('small', Readable.from([Buffer.from('hello')]));
    await b.put('large', Readable.from([Buffer.alloc(6 * MiB, 7)])); // 5 MiB parts by default
    const uploads = [...sent('PutObject'), ...sent('UploadPart')];
    expect(uploads.length).toBe(3); // one PutObject, two parts
    for (const r of uploads) expect(checksumHeaders(r), `${r.op} ${r.path}`).toEqual([]);
  });

  it('sha256: PutObject carries the body digest', async () => {
    const b = await backend('sum-sha/', { checksum: 'sha256' });
    const body = Buffer.from('a manifest, say');
    await b.put('m.json', Readable.from([body]));
    const [put] = sent('PutObject');
    expect(put?.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(body).digest('base64'));
    // s3rver keeps the object whole despite the header it does not know
    const back = Buffer.concat(await (await b.get('m.json')).toArray());
    expect(back.equals(body)).toBe(true);
  });

  it('crc32c: every part of a multipart upload carries its checksum, and the object reads back whole', async () => {
    const b = await backend('sum-crc/', { checksum: 'crc32c' });
    const body = Buffer.alloc(6 * MiB, 3); // two parts of the default 5 MiB
    await b.put('big', Readable.from([body]));
    expect(sent('CreateMultipartUpload')[0]?.headers['x-amz-checksum-algorithm']).toBe('CRC32C');
    const parts = sent('UploadPart');
    expect(parts.length).toBe(2);
    for (const p of parts) expect(p.headers['x-amz-checksum-crc32c']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect((await b.stat('big')).size).toBe(body.length);
  });
});

describe('s3 Object Lock', () => {
  const at = new Date('2026-12-02T10:00:00.000Z');
  const lockFor = (mode: 'governance' | 'compliance', verifyBucket = true) => ({
    mode,
    retainUntil: (t: Date) => new Date(t.getTime() + 30 * 86_400_000),
    verifyBucket,
    now: () => at,
  });

  it('checks the bucket once, then sends mode and retain-until on PutObject and CreateMultipartUpload', async () => {
    bucketLocks();
    const b = withObjectLock(await backend('locked/', { checksum: 'crc32c' }), lockFor('compliance'));
    await b.put('c/20261202T100000Z-aaaaaaaa.manifest.json', Readable.from([Buffer.from('{}')]));
    await b.put('c/20261202T100000Z-aaaaaaaa.db.zst', Readable.from([Buffer.alloc(17 * MiB, 1)]));
    expect(sent('GetBucketVersioning').length).toBe(1);
    expect(sent('GetObjectLockConfiguration').length).toBe(1);
    const small = sent('PutObject')[0]!;
    const large = sent('CreateMultipartUpload')[0]!;
    for (const r of [small, large]) {
      expect(r.headers['x-amz-object-lock-mode'], r.op).toBe('COMPLIANCE');
      expect(new Date(String(r.headers['x-amz-object-lock-retain-until-date'])).toISOString(), r.op).toBe(
        '2027-01-01T10:00:00.000Z',
      );
    }
    // the checksum AWS demands of a locked upload went with it
    expect(small.headers['x-amz-checksum-crc32c']).toBeDefined();
  });

  it('puts the lease unlocked: it is rewritten and removed while a prune runs', async () => {
    bucketLocks();
    const b = withObjectLock(await backend('locked-lease/', { checksum: 'crc32c' }), lockFor('governance'));
    await b.put('c/.dr-lease.json', Readable.from([Buffer.from('{}')]));
    const [put] = sent('PutObject');
    expect(put?.headers['x-amz-object-lock-mode']).toBeUndefined();
  });

  it('refuses a bucket whose versioning is suspended, before writing anything', async () => {
    bucketLocks(VERSIONING_SUSPENDED);
    const b = withObjectLock(await backend('nolock/', { checksum: 'crc32c' }), lockFor('governance'));
    const e = await failure(b.put('c/x.db.zst', Readable.from([Buffer.from('x')])));
    expect(e.code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect(e.message).toMatch(/bucket dr-lock .*versioning is suspended/);
    expect(e.exitCode).toBe(2);
    expect(sent('PutObject')).toEqual([]);
  });

  it('refuses a bucket without an Object Lock configuration', async () => {
    proxy.fault({ op: 'GetBucketVersioning', fault: { kind: 'answer', status: 200, body: VERSIONING_ON } });
    proxy.fault({
      op: 'GetObjectLockConfiguration',
      fault: { kind: 'status', status: 404, code: 'ObjectLockConfigurationNotFoundError' },
    });
    const b = withObjectLock(await backend('nolock2/', { checksum: 'crc32c' }), lockFor('governance'));
    const e = await failure(b.verifyLock());
    expect(e.code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect(e.message).toMatch(/Object Lock is not enabled/);
  });

  it('fails closed when the check is refused, and says how to go on', async () => {
    proxy.fault({ op: 'GetBucketVersioning', fault: { kind: 'status', status: 403, code: 'AccessDenied' } });
    const b = withObjectLock(await backend('denied/', { checksum: 'crc32c' }), lockFor('governance'));
    const e = await failure(b.put('c/x.db.zst', Readable.from([Buffer.from('x')])));
    expect(e.code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect(e.message).toMatch(/s3:GetBucketVersioning.*verifyBucket: false/);
    expect(sent('PutObject')).toEqual([]);
  });

  it('with verifyBucket false, asks nothing and still locks', async () => {
    const b = withObjectLock(
      await backend('unchecked/', { checksum: 'crc32c' }),
      lockFor('governance', false),
    );
    await b.put('c/20261202T100000Z-bbbbbbbb.db.zst', Readable.from([Buffer.from('x')]));
    expect(sent('GetBucketVersioning')).toEqual([]);
    expect(sent('PutObject')[0]?.headers['x-amz-object-lock-mode']).toBe('GOVERNANCE');
  });

  it('refuses a target without request checksums (AWS rejects locked uploads without one)', async () => {
    bucketLocks();
    const b = withObjectLock(await backend('nosum/'), lockFor('governance'));
    const e = await failure(b.verifyLock());
    expect(e.code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect(e.message).toMatch(/checksum=sha256/);
    const plain = await backend('nosum2/');
    const e2 = await failure(
      plain.put('x', Readable.from([Buffer.from('x')]), {
        lock: { mode: 'governance', retainUntil: new Date(at.getTime() + 1000) },
      }),
    );
    expect(e2.code).toBe('OBJECT_LOCK_UNAVAILABLE');
    expect(sent('PutObject')).toEqual([]);
  });
});

describe('s3 conditional writes', () => {
  it('absent unless the URL says the server honours them', async () => {
    expect((await backend('cw0/')).putIfAbsent === undefined).toBe(true);
  });

  it('sends If-None-Match: * and reads a 412 as "exists"', async () => {
    const b = await backend('cw/', { conditionalWrites: 'true' });
    expect(await b.putIfAbsent!('c/.dr-lease.json', Buffer.from('{"a":1}'))).toBe(true);
    expect(sent('PutObject')[0]?.headers['if-none-match']).toBe('*');
    proxy.fault({ op: 'PutObject', fault: { kind: 'status', status: 412, code: 'PreconditionFailed' } });
    expect(await b.putIfAbsent!('c/.dr-lease.json', Buffer.from('{"a":2}'))).toBe(false);
    const back = Buffer.concat(await (await b.get('c/.dr-lease.json')).toArray()).toString();
    expect(back).toBe('{"a":1}');
  });
});
