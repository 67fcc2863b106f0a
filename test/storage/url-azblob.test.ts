/**
 * The azblob:// URL form, and the GCS path through s3:// (Google Cloud Storage's XML API is
 * S3-interoperable with HMAC keys): what dr accepts and refuses before any request is made.
 */
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

describe('parseStorageUrl: azblob://', () => {
  it('parses every parameter; a path-style endpoint (Azurite) keeps its path', () => {
    expect(
      parseStorageUrl(
        'azblob://etcd-backups/prod/east?account=acme01&endpoint=http://127.0.0.1:10000/devstoreaccount1/' +
          '&maxAttempts=5&blockSizeMiB=8&queueSize=4&connectTimeoutMs=500&socketTimeoutMs=700&requestTimeoutMs=900',
      ),
    ).toMatchObject({
      scheme: 'azblob',
      container: 'etcd-backups',
      prefix: 'prod/east/',
      account: 'acme01',
      endpoint: 'http://127.0.0.1:10000/devstoreaccount1',
      maxAttempts: 5,
      blockSizeMiB: 8,
      queueSize: 4,
      connectTimeoutMs: 500,
      socketTimeoutMs: 700,
      requestTimeoutMs: 900,
    });
  });

  it('applies defaults: Azure public cloud, 16 MiB blocks, 2 in flight', () => {
    const u = parseStorageUrl('azblob://backups?account=acme01');
    expect(u).toEqual({
      scheme: 'azblob',
      account: 'acme01',
      container: 'backups',
      prefix: '',
      maxAttempts: 3,
      blockSizeMiB: 16,
      queueSize: 2,
      connectTimeoutMs: 10_000,
      socketTimeoutMs: 60_000,
      requestTimeoutMs: 300_000,
      redacted: 'azblob://backups?account=acme01',
    });
    expect(
      parseStorageUrl('azblob://backups/p?account=acme01&endpoint=https://acme01.blob.core.chinacloudapi.cn'),
    ).toMatchObject({
      prefix: 'p/',
      endpoint: 'https://acme01.blob.core.chinacloudapi.cn',
    });
  });

  it.each([
    ['azblob:///prefix?account=acme01', 'missing container'],
    ['azblob://Backups/p?account=acme01', 'not a valid container name'],
    ['azblob://ab/p?account=acme01', 'not a valid container name'],
    ['azblob://a--b/p?account=acme01', 'not a valid container name'],
    ['azblob://backups:443/p?account=acme01', 'must not have a port'],
    ['azblob://backups/p', 'missing parameter "account"'],
    ['azblob://backups/p?account=Acme_01', 'parameter "account"'],
    ['azblob://backups/a//b?account=acme01', 'empty'],
    ['azblob://backups/../up?account=acme01', "'..'"],
    ['azblob://backups/p?account=acme01&endpoint=ftp://h', 'parameter "endpoint"'],
    ['azblob://backups/p?account=acme01&endpoint=https://h/x?sv=1', 'no query'],
    ['azblob://backups/p?account=acme01&blockSizeMiB=0', 'between 1 and 4000'],
    ['azblob://backups/p?account=acme01&blockSizeMiB=5000', 'between 1 and 4000'],
    ['azblob://backups/p?account=acme01&queueSize=65', 'between 1 and 64'],
    ['azblob://backups/p?account=acme01&partSizeMiB=16', 'unknown parameter "partSizeMiB"'],
    ['azblob://backups/p?account=acme01&account=other', 'given 2 times'],
  ])('refuses %s (%s)', (raw, reason) => {
    expect(reasonOf(raw)).toContain(reason);
  });

  it('refuses credentials in the URL, and never repeats them', () => {
    const withSas = 'azblob://backups/p?account=acme01&sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D';
    const m = reasonOf(withSas);
    expect(m).toContain('AZURE_STORAGE_SAS_TOKEN');
    expect(m).not.toContain('c2VjcmV0LXNpZ25hdHVyZQ');
    const withUser = reasonOf('azblob://acme01:topsecretkey@backups/p?account=acme01');
    expect(withUser).toContain('AZURE_STORAGE_KEY');
    expect(withUser).not.toContain('topsecretkey');
  });

  it('names azblob among the supported schemes', () => {
    expect(reasonOf('gs://bucket/p')).toContain('supported: file, s3, azblob');
  });
});

describe('parseStorageUrl: Google Cloud Storage through s3:// (HMAC keys, XML API)', () => {
  it('takes the GCS endpoint and region=auto as an S3-compatible target', () => {
    expect(
      parseStorageUrl('s3://etcd-backups/prod?endpoint=https://storage.googleapis.com&region=auto'),
    ).toMatchObject({
      scheme: 's3',
      bucket: 'etcd-backups',
      prefix: 'prod/',
      endpoint: 'https://storage.googleapis.com',
      region: 'auto',
      forcePathStyle: false,
    });
  });

  it('refuses HMAC keys in the URL (they go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)', () => {
    const m = reasonOf(
      's3://GOOG1EXAMPLE:hmacsecret@etcd-backups/prod?endpoint=https://storage.googleapis.com',
    );
    expect(m).not.toContain('hmacsecret');
  });
});
