/**
 * s3:// backend for AWS S3 and S3-compatible servers (MinIO, Ceph RGW, s3rver...).
 *
 * - Credentials come from the AWS default chain (environment, shared profile, SSO, instance role),
 *   never from the URL; `options.credentials` exists for programmatic callers and tests.
 * - Checksums are computed/validated only WHEN_REQUIRED: the newest SDK otherwise sends aws-chunked
 *   bodies with CRC trailers, which many S3-compatible servers (s3rver among them) do not understand.
 *   Our own sha256 in the manifest is what guards the data.
 * - put streams through @aws-sdk/lib-storage: parts of partSizeMiB (>= 16), queueSize of them in flight,
 *   so memory is bounded by about (queueSize + 1) x partSize whatever the object size. Each part is a
 *   Buffer, so the SDK retries a failed part by itself (maxAttempts); the put as a whole is not retried.
 * - A failed or aborted put aborts its multipart upload (lib-storage with leavePartsOnError false, then
 *   our own AbortMultipartUpload in case that one failed or was skipped), so no orphan parts remain.
 *   When the server refuses the abort too, the error says so and names the upload id.
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { addAbortSignal, pipeline, Readable, Transform } from 'node:stream';
import { systemClock, type Clock } from '../../core/clock.js';
import { DrError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { redactUrl } from '../../core/redact.js';
import type { Backend, ObjectInfo, PutOptions } from '../backend.js';
import { assertValidKey, assertValidPrefix } from '../key.js';
import type { S3StorageUrl } from '../url.js';
import { s3Error, type S3ErrorContext } from './s3-errors.js';

export interface S3BackendOptions {
  /** Overrides the AWS default credential chain (tests, embedding). @default the AWS default chain */
  credentials?: S3ClientConfig['credentials'];
  /** Ages of incomplete uploads are measured against it. @default systemClock */
  clock?: Clock;
  /** Warnings that do not fail the operation (an abort the server refused). @default silentLogger */
  logger?: Logger;
  /** Keys per ListObjectsV2 page (tests use a small one to exercise pagination). @default 1000 */
  listPageSize?: number;
}

const MiB = 1024 * 1024;

export class S3Backend implements Backend {
  readonly location: string;
  /** Exposed for tests and diagnostics (e.g. to observe the commands sent); not for callers' I/O. */
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly endpoint: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listPageSize: number;

  constructor(
    private readonly url: S3StorageUrl,
    opts: S3BackendOptions = {},
  ) {
    this.bucket = url.bucket;
    this.prefix = url.prefix;
    this.endpoint = url.endpoint ? redactUrl(url.endpoint).replace(/\/$/, '') : 'AWS';
    this.location = `s3://${url.bucket}/${url.prefix}${url.endpoint ? ` (endpoint ${this.endpoint})` : ''}`;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.listPageSize = opts.listPageSize ?? 1000;
    this.client = new S3Client({
      ...(url.region !== undefined ? { region: url.region } : {}),
      ...(url.endpoint !== undefined ? { endpoint: url.endpoint } : {}),
      ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
      forcePathStyle: url.forcePathStyle,
      maxAttempts: url.maxAttempts,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: url.connectTimeoutMs, requestTimeout: url.requestTimeoutMs },
    });
  }

  private keyOf(key: string): string {
    assertValidKey(key, this.location);
    return this.prefix + key;
  }

  private ctx(op: string, key?: string): S3ErrorContext {
    return {
      op,
      bucket: this.bucket,
      endpoint: this.endpoint,
      ...(key !== undefined ? { key: this.prefix + key } : {}),
    };
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const { signal, onProgress } = opts;
    const ctx = this.ctx('put', key);
    let fullKey: string;
    try {
      fullKey = this.keyOf(key);
      if (signal?.aborted) throw s3Error(abortError(), ctx);
    } catch (err) {
      body.destroy();
      throw err;
    }
    let size = 0;
    let bodyError: unknown;
    const noteBodyError = (e: unknown): void => {
      bodyError ??= e;
    };
    body.once('error', noteBodyError);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        onProgress?.(size);
        cb(null, chunk);
      },
    });
    // Errors reach lib-storage through counter, which pipeline destroys with the body's error.
    pipeline(body, counter, () => undefined);
    // Aborting by failing the body (rather than Upload.abort(), which rejects done() at once while
    // requests are still in flight) makes done() settle only after the multipart upload is aborted.
    const onAbort = (): void => {
      counter.destroy(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: fullKey, Body: counter },
      partSize: this.url.partSizeMiB * MiB,
      queueSize: this.url.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      const failedBody = bodyError;
      // lib-storage stops reading on failure; the producer must learn that nobody reads any more.
      counter.destroy();
      const orphan = upload.uploadId ? await this.abortUpload(fullKey, upload.uploadId) : undefined;
      const orphanNote = orphan
        ? `; multipart upload ${orphan.uploadId} could not be aborted (${orphan.reason}): remove it with cleanupIncomplete / dr gc`
        : '';
      if (signal?.aborted) {
        throw new DrError(
          'ABORTED',
          `s3: put "${fullKey}" in bucket ${this.bucket}: cancelled${orphanNote}`,
          {
            transient: false,
            ...(orphan ? { orphanUpload: orphan } : {}),
          },
        );
      }
      if (failedBody !== undefined) throw failedBody;
      const e = s3Error(err, ctx);
      if (!orphan) throw e;
      throw new DrError(
        e.code,
        e.message + orphanNote,
        { ...e.details, orphanUpload: orphan },
        { cause: err },
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
      body.off('error', noteBodyError);
    }
    if (signal?.aborted) {
      // The last request committed the object in the same instant: abort still means "nothing visible".
      await this.remove(key).catch(() => undefined);
      throw new DrError('ABORTED', `s3: put "${fullKey}" in bucket ${this.bucket}: cancelled`, {
        transient: false,
      });
    }
    return { size };
  }

  /** Returns undefined when the upload is gone (aborted now or already by lib-storage). */
  private async abortUpload(
    fullKey: string,
    uploadId: string,
  ): Promise<{ uploadId: string; reason: string } | undefined> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId }),
      );
      return undefined;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchUpload' || e.$metadata?.httpStatusCode === 404) return undefined;
      const reason = e.name ?? String(err);
      this.logger.warn(
        { bucket: this.bucket, key: fullKey, uploadId, endpoint: this.endpoint, reason },
        's3: could not abort a failed multipart upload; its parts remain until cleanupIncomplete',
      );
      return { uploadId, reason };
    }
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Readable> {
    const fullKey = this.keyOf(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }),
        opts.signal ? { abortSignal: opts.signal } : {},
      );
      const body = res.Body as Readable | undefined;
      if (!body) return Readable.from([]);
      return opts.signal ? addAbortSignal(opts.signal, body) : body;
    } catch (err) {
      throw s3Error(err, this.ctx('get', key));
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const fullKey = this.keyOf(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return {
        key,
        size: res.ContentLength ?? 0,
        lastModified: res.LastModified ?? new Date(0),
        ...(res.ObjectLockRetainUntilDate ? { retainUntil: res.ObjectLockRetainUntilDate } : {}),
      };
    } catch (err) {
      throw s3Error(err, this.ctx('stat', key));
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix, this.location);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        );
      } catch (err) {
        throw s3Error(err, { ...this.ctx('list'), key: this.prefix + prefix });
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key || !o.Key.startsWith(this.prefix)) continue;
        const key = o.Key.slice(this.prefix.length);
        // A zero-length "folder" marker some tools create is not an object of ours.
        if (key === '' || key.endsWith('/')) continue;
        yield { key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(key: string): Promise<void> {
    const fullKey = this.keyOf(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }));
    } catch (err) {
      const e = s3Error(err, this.ctx('remove', key));
      if (e.code === 'STORAGE_NOT_FOUND' && e.details.s3Code !== 'NoSuchBucket') return;
      throw e;
    }
  }

  async check(): Promise<void> {
    // A listing proves the bucket exists, the endpoint answers and the credentials are accepted,
    // without writing a probe object (which Object Lock would then keep for its retention period).
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }),
      );
    } catch (err) {
      throw s3Error(err, this.ctx('check'));
    }
  }

  async cleanupIncomplete(prefix: string, olderThanMs: number): Promise<number> {
    assertValidPrefix(prefix, this.location);
    const cutoff = this.clock.now().getTime() - olderThanMs;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
          }),
        );
      } catch (err) {
        throw s3Error(err, { ...this.ctx('list incomplete uploads'), key: this.prefix + prefix });
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        if (u.Initiated && u.Initiated.getTime() > cutoff) continue;
        try {
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
          );
          removed++;
        } catch (err) {
          const e = s3Error(err, { ...this.ctx('abort incomplete upload'), key: u.Key });
          if (e.code !== 'STORAGE_NOT_FOUND') throw e;
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return removed;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function abortError(): Error {
  return Object.assign(new Error('put cancelled'), { name: 'AbortError' });
}
