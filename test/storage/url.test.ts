import { describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { parseStorageUrl } from '../../src/storage/url.js';

function reasonOf(raw: string): string {
  try {
    parseStorageUrl(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(DrError);
    expect((err as DrError).code).toBe('STORAGE_URL_INVALID');
    expect((err as DrError).exitCode).toBe(2);
    return (err as DrError).message;
  }
  throw new Error(`accepted: ${raw}`);
}

describe('parseStorageUrl', () => {
  it('parses file:///abs/dir, normalising the path', () => {
    expect(parseStorageUrl('file:///var/backups/etcd/')).toEqual({
      scheme: 'file',
      dir: '/var/backups/etcd',
      redacted: 'file:///var/backups/etcd/',
    });
    expect(parseStorageUrl('file:///srv/a%20b/../c')).toMatchObject({ dir: '/srv/c' });
  });

  it('parses an s3 URL with every parameter', () => {
    const u = parseStorageUrl(
      's3://my-bucket/etcd/prod?endpoint=http://127.0.0.1:9000&region=us-east-1&forcePathStyle=true' +
        '&maxAttempts=5&partSizeMiB=32&queueSize=2&connectTimeoutMs=500&requestTimeoutMs=1000',
    );
    expect(u).toMatchObject({
      scheme: 's3',
      bucket: 'my-bucket',
      prefix: 'etcd/prod/',
      endpoint: 'http://127.0.0.1:9000',
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 5,
      partSizeMiB: 32,
      queueSize: 2,
      connectTimeoutMs: 500,
      requestTimeoutMs: 1000,
    });
  });

  it('applies defaults for s3 (AWS itself, virtual-hosted style, 5 MiB parts)', () => {
    const u = parseStorageUrl('s3://bucket');
    expect(u).toMatchObject({
      scheme: 's3',
      bucket: 'bucket',
      prefix: '',
      forcePathStyle: false,
      partSizeMiB: 5,
    });
    expect(u).not.toHaveProperty('endpoint');
    expect(u).not.toHaveProperty('region');
    expect(parseStorageUrl('s3://bucket/p/')).toMatchObject({ prefix: 'p/' });
  });

  it.each([
    ['file://relative/dir', 'host "relative"'],
    ['file:relative/dir', 'must be absolute'],
    ['file:///', 'below the file system root'],
    ['file:///x?mode=1', 'unknown parameter "mode"'],
    ['s3:///prefix', 'missing bucket'],
    ['s3://ab/x', 'not a valid bucket name'],
    ['s3://bucket:9000/x', 'must not have a port'],
    ['s3://bucket/a//b', 'empty'],
    ['s3://bucket/../up', "'..'"],
    ['ftp://host/dir', 'unknown scheme "ftp"'],
    ['/just/a/path', 'not a URL'],
    ['s3://bucket/p?endpoint=not-a-url', 'parameter "endpoint"'],
    ['s3://bucket/p?endpoint=ftp://h:1', 'parameter "endpoint"'],
    ['s3://bucket/p?endpoint=http://h:1/path', 'no path'],
    ['s3://bucket/p?endpint=http://h:1', 'unknown parameter "endpint"'],
    ['s3://bucket/p?partSizeMiB=4', 'at least 5'],
    ['s3://bucket/p?partSizeMiB=abc', 'whole number'],
    ['s3://bucket/p?maxAttempts=0', 'between 1 and 20'],
    ['s3://bucket/p?queueSize=0', 'between 1 and 64'],
    ['s3://bucket/p?forcePathStyle=yes', 'true or false'],
    ['s3://bucket/p?region=US%20East', 'region'],
    ['s3://bucket/p?region=a&region=b', 'given 2 times'],
  ])('rejects %s (%s)', (raw, reason) => {
    expect(reasonOf(raw)).toContain(reason);
  });

  it('refuses credentials in the URL and never echoes them', () => {
    const msg = reasonOf('s3://AKIAXXX:supersecret@bucket/p');
    expect(msg).toContain('credentials must not be in the URL');
    expect(msg).not.toContain('supersecret');
    const msg2 = reasonOf('s3://bucket/p?endpoint=http://user:hunter2@h:1');
    expect(msg2).not.toContain('hunter2');
    const msg3 = reasonOf('s3://bucket/p?secretAccessKey=hunter3');
    expect(msg3).toContain('unknown parameter');
    expect(msg3).not.toContain('hunter3');
  });
});
