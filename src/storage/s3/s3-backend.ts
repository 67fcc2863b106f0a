/**
 * s3:// backend for AWS S3 and S3-compatible servers (MinIO, Ceph RGW, s3rver...).
 *
 * - Credentials come from the AWS default chain (environment, shared profile, SSO, instance role),
 *   never from the URL; `options.credentials` exists for programmatic callers and tests.
 * - Request checksums per target (`checksum=` in the URL): CRC32C or SHA-256 on every upload request
 *   (a header per part: every part is a Buffer, so no aws-chunked trailer is needed), the
 *   default on AWS (SHA-256: native, unlike the SDK's CRC32C); off (WHEN_REQUIRED) by default on custom endpoints, as many S3-compatible servers
 *   (s3rver among them) do not understand them. Our own sha256 in the manifest guards the data either way.
 * - Object Lock: a put with `lock` sends the mode and retain-until date on PutObject and on
 *   CreateMultipartUpload; AWS refuses such uploads without Content-MD5 or a checksum, so a target with
 *   checksum=off refuses them first. checkObjectLock asks the bucket (GetBucketVersioning,
 *   GetObjectLockConfiguration).
 * - putIfAbsent (the lease) exists only where the server honours If-None-Match on PutObject
 *   (`conditionalWrites`, on by default for AWS).
 * - put streams through part-upload.ts (the driver azblob:// shares): parts of partSizeMiB (>= 16) copied
 *   into a pool of queueSize + 1 buffers reused across parts, queueSize of them in flight, so memory is
 *   bounded by about (queueSize + 1) x partSize whatever the object size; a body smaller than one part is
 *   one PutObject. Each part is a Buffer, so the SDK retries a failed part by itself (maxAttempts); the
 *   put as a whole is not retried. (It used @aws-sdk/lib-storage, whose per-part Buffer.concat held
 *   several part-sized copies at once: docs/benchmarks.md, "S3 backup memory".)
 * - A failed or aborted put aborts its multipart upload, so no orphan parts remain. When the server
 *   refuses the abort, the error says so and names the upload id.
 * - Deadlines: every request has a connect timeout (connectTimeoutMs), an inactivity timeout
 *   (socketTimeoutMs: no byte either way, response bodies included) and a deadline for the answer to
 *   begin (requestTimeoutMs), all enforced by @smithy/node-http-handler itself (its requestTimeout
 *   only warns unless throwOnRequestTimeout is set). Its warnings go to our JSON log, not the console.
 * - Cancellation: every request takes the put's own signal: the operator's cancellation, or the first
 *   failed part (the parts still in flight are then cut at once instead of running into their
 *   timeouts). The error reported is that first real failure, never the knock-on cancellations of its
 *   siblings.
 *
 * Over 400 lines on purpose: the whole Backend contract for S3 (multipart upload, deadlines, abort signals,
 * error causes) in one place, as each of the other backends has it in one file.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { addAbortSignal, Readable } from 'node:stream';
import { systemClock, type Clock } from '../../core/clock.js';
import { DrError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { redactText, redactUrl } from '../../core/redact.js';
import type { Backend, ObjectInfo, ObjectLock, OpOptions, PutOptions } from '../backend.js';
import { assertValidKey, assertValidPrefix } from '../key.js';
import { PartUploadFailed, uploadInParts, type PartSink } from '../part-upload.js';
import { classifyStreamErrors } from '../stream-errors.js';
import type { S3StorageUrl } from '../url.js';
import { isNotImplemented, s3Error, type S3ErrorContext } from './s3-errors.js';

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
/** The most a clean-up request after a failed or cancelled put may take (it must not prolong a shutdown). */
const CLEANUP_DEADLINE_MS = 10_000;
/** S3's limit on the parts of one multipart upload. */
const MAX_PARTS = 10_000;

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
  /** Present only when the URL says the server honours conditional writes. */
  readonly putIfAbsent?: (key: string, data: Buffer, opts?: OpOptions) => Promise<boolean>;

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
      requestChecksumCalculation: url.checksum ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      responseChecksumValidation: url.checksum ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED',
      requestHandler: new NodeHttpHandler({
        connectionTimeout: url.connectTimeoutMs,
        socketTimeout: url.socketTimeoutMs,
        requestTimeout: url.requestTimeoutMs,
        throwOnRequestTimeout: true,
        logger: handlerLogger(this.logger, this.endpoint),
      }),
    });
    if (url.conditionalWrites) this.putIfAbsent = (k, d, o) => this.createIfAbsent(k, d, o);
  }

  /** Options for client.send: the caller's signal, if any. */
  private sendOpts(signal?: AbortSignal): { abortSignal?: AbortSignal } {
    return signal ? { abortSignal: signal } : {};
  }

  /** A deadline for a clean-up request, which runs after the operation's own signal may have fired. */
  private cleanupSignal(): AbortSignal {
    return AbortSignal.timeout(Math.min(CLEANUP_DEADLINE_MS, this.url.requestTimeoutMs));
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
      if (opts.lock) this.assertCanLock();
      if (signal?.aborted) throw s3Error(abortError(), ctx);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const base = { Bucket: this.bucket, Key: fullKey };
    const checksum = this.url.checksum ? { ChecksumAlgorithm: this.url.checksum } : {};
    const lock = opts.lock ? lockParams(opts.lock) : {};
    // The multipart upload is created with the first part (a body smaller than one part is one PutObject).
    let uploadId: string | undefined;
    let creating: Promise<string> | undefined;
    const create = (s: AbortSignal): Promise<string> =>
      (creating ??= this.client
        .send(new CreateMultipartUploadCommand({ ...base, ...checksum, ...lock }), { abortSignal: s })
        .then((r) => {
          if (!r.UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
          uploadId = r.UploadId;
          return r.UploadId;
        }));
    const done: CompletedPart[] = [];
    const sink: PartSink = {
      part: async (index, data, s) => {
        const id = await create(s);
        const r = await this.client.send(
          new UploadPartCommand({
            ...base,
            UploadId: id,
            PartNumber: index + 1,
            Body: data,
            ContentLength: data.length,
            ...checksum,
          }),
          { abortSignal: s },
        );
        if (!r.ETag) throw new Error(`UploadPart ${index + 1} answered without an ETag`);
        done[index] = {
          PartNumber: index + 1,
          ETag: r.ETag,
          ...(r.ChecksumCRC32C ? { ChecksumCRC32C: r.ChecksumCRC32C } : {}),
          ...(r.ChecksumSHA256 ? { ChecksumSHA256: r.ChecksumSHA256 } : {}),
        };
      },
      whole: async (data, s) => {
        await this.client.send(
          new PutObjectCommand({ ...base, Body: data, ContentLength: data.length, ...checksum, ...lock }),
          { abortSignal: s },
        );
      },
      commit: async (parts, s) => {
        const id = await create(s);
        await this.client.send(
          new CompleteMultipartUploadCommand({
            ...base,
            UploadId: id,
            MultipartUpload: { Parts: done.slice(0, parts) },
          }),
          { abortSignal: s },
        );
      },
    };
    try {
      return await uploadInParts(body, sink, {
        partSize: this.url.partSizeMiB * MiB,
        queueSize: this.url.queueSize,
        maxParts: MAX_PARTS,
        tooManyParts: () =>
          new DrError(
            'STORAGE_FAILED',
            `s3: put "${fullKey}" in bucket ${this.bucket}: more than ${MAX_PARTS} parts of ${this.url.partSizeMiB} MiB; raise partSizeMiB`,
            { transient: false },
          ),
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress } : {}),
      });
    } catch (err) {
      if (!(err instanceof PartUploadFailed)) throw err;
      // Both clean-ups at once: each has its own deadline, and a shutdown waits for the longer one only.
      const [orphan] = await Promise.all([
        uploadId ? this.abortUpload(fullKey, uploadId) : undefined,
        // A commit cut on our side by the cancellation may still have happened on the server's.
        err.source === 'cancelled' && err.commitSent
          ? this.remove(key, { signal: this.cleanupSignal() }).catch(() => undefined)
          : undefined,
      ]);
      const orphanNote = orphan
        ? `; multipart upload ${orphan.uploadId} could not be aborted (${orphan.reason}): remove it with cleanupIncomplete / dr gc`
        : '';
      if (err.source === 'cancelled') {
        const e = new DrError(
          'ABORTED',
          `s3: put "${fullKey}" in bucket ${this.bucket}: cancelled${orphanNote}`,
          {
            transient: false,
          },
        );
        if (orphan) e.details.orphanUpload = orphan;
        throw e;
      }
      if (err.source === 'body') throw err.firstCause;
      const e = s3Error(err.firstCause, ctx);
      if (!orphan) throw e;
      throw new DrError(
        e.code,
        e.message + orphanNote,
        { ...e.details, orphanUpload: orphan },
        { cause: err.firstCause },
      );
    }
  }

  /** Returns undefined when the upload is gone (aborted now, or never created on the server). */
  private async abortUpload(
    fullKey: string,
    uploadId: string,
  ): Promise<{ uploadId: string; reason: string } | undefined> {
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: fullKey, UploadId: uploadId }),
        { abortSignal: this.cleanupSignal() },
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

  async get(key: string, opts: OpOptions = {}): Promise<Readable> {
    const fullKey = this.keyOf(key);
    const ctx = this.ctx('get', key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }),
        this.sendOpts(opts.signal),
      );
      const body = res.Body as Readable | undefined;
      if (!body) return Readable.from([]);
      // A body cut off (reset, inactivity timeout) is a storage error, not bad content.
      classifyStreamErrors(body, (err) => s3Error(err, { ...ctx, op: 'get (reading)' }));
      return opts.signal ? addAbortSignal(opts.signal, body) : body;
    } catch (err) {
      throw s3Error(err, ctx);
    }
  }

  async stat(key: string, opts: OpOptions = {}): Promise<ObjectInfo> {
    const fullKey = this.keyOf(key);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: fullKey }),
        this.sendOpts(opts.signal),
      );
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

  async *list(prefix: string, opts: OpOptions = {}): AsyncIterable<ObjectInfo> {
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
          this.sendOpts(opts.signal),
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

  async remove(key: string, opts: OpOptions = {}): Promise<void> {
    const fullKey = this.keyOf(key);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }),
        this.sendOpts(opts.signal),
      );
    } catch (err) {
      const e = s3Error(err, this.ctx('remove', key));
      if (e.code === 'STORAGE_NOT_FOUND' && e.details.s3Code !== 'NoSuchBucket') return;
      throw e;
    }
  }

  async check(opts: OpOptions = {}): Promise<void> {
    // A listing proves the bucket exists, the endpoint answers and the credentials are accepted,
    // without writing a probe object (which Object Lock would then keep for its retention period).
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 }),
        this.sendOpts(opts.signal),
      );
    } catch (err) {
      throw s3Error(err, this.ctx('check'));
    }
  }

  /** AWS refuses an Object Lock upload without Content-MD5 or a checksum header. */
  private assertCanLock(): void {
    if (this.url.checksum) return;
    throw new DrError(
      'OBJECT_LOCK_UNAVAILABLE',
      `s3: ${this.location}: Object Lock uploads need a request checksum; add checksum=sha256 (or crc32c) to the storage URL`,
      { transient: false },
    );
  }

  async checkObjectLock(opts: OpOptions = {}): Promise<void> {
    this.assertCanLock();
    const refuse = (what: string): never => {
      throw new DrError(
        'OBJECT_LOCK_UNAVAILABLE',
        `s3: bucket ${this.bucket}${this.url.endpoint ? ` at ${this.endpoint}` : ''}: ${what}; a policy with objectLock needs a bucket created with Object Lock enabled (which also enables versioning)`,
        { transient: false, bucket: this.bucket },
      );
    };
    let versioning;
    try {
      versioning = await this.client.send(
        new GetBucketVersioningCommand({ Bucket: this.bucket }),
        this.sendOpts(opts.signal),
      );
    } catch (err) {
      throw this.lockCheckError(err, 'GetBucketVersioning');
    }
    if (versioning.Status !== 'Enabled')
      refuse(`versioning is ${versioning.Status ? versioning.Status.toLowerCase() : 'not enabled'}`);
    let config;
    try {
      config = await this.client.send(
        new GetObjectLockConfigurationCommand({ Bucket: this.bucket }),
        this.sendOpts(opts.signal),
      );
    } catch (err) {
      const e = err as { name?: string };
      if (e.name === 'ObjectLockConfigurationNotFoundError') refuse('Object Lock is not enabled');
      throw this.lockCheckError(err, 'GetObjectLockConfiguration');
    }
    if (config.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') refuse('Object Lock is not enabled');
  }

  /** A lock check that could not be made is not a pass: say what failed and how to go on without it. */
  private lockCheckError(err: unknown, op: string): DrError {
    const e = s3Error(err, this.ctx(`check object lock (${op})`));
    if (e.details.transient === true) return e;
    return new DrError(
      e.code === 'STORAGE_ACCESS_DENIED' || isNotImplemented(err) ? 'OBJECT_LOCK_UNAVAILABLE' : e.code,
      `${e.message}; dr cannot confirm that the bucket locks objects (grant s3:GetBucketVersioning and s3:GetBucketObjectLockConfiguration, or set objectLock.verifyBucket: false in the policy once you have checked the bucket yourself)`,
      { ...e.details, transient: false },
      { cause: err },
    );
  }

  /** PutObject with If-None-Match: * : S3 answers 412 when the key exists (409 when a racing write won). */
  private async createIfAbsent(key: string, data: Buffer, opts: OpOptions = {}): Promise<boolean> {
    const fullKey = this.keyOf(key);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: fullKey,
          Body: data,
          IfNoneMatch: '*',
          ...(this.url.checksum ? { ChecksumAlgorithm: this.url.checksum } : {}),
        }),
        this.sendOpts(opts.signal),
      );
      return true;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (
        e.name === 'PreconditionFailed' ||
        e.name === 'ConditionalRequestConflict' ||
        status === 412 ||
        status === 409
      )
        return false;
      throw s3Error(err, this.ctx('create if absent', key));
    }
  }

  async cleanupIncomplete(prefix: string, olderThanMs: number, opts: OpOptions = {}): Promise<number> {
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
          this.sendOpts(opts.signal),
        );
      } catch (err) {
        // A server without ListMultipartUploads (s3rver, some gateways) keeps no incomplete uploads we
        // could list or remove: nothing to clean, not a failure, and certainly not one to retry.
        if (isNotImplemented(err)) {
          this.logger.debug(
            { bucket: this.bucket, endpoint: this.endpoint },
            's3: server does not implement ListMultipartUploads; no incomplete uploads to remove',
          );
          return removed;
        }
        throw s3Error(err, { ...this.ctx('list incomplete uploads'), key: this.prefix + prefix });
      }
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue;
        if (u.Initiated && u.Initiated.getTime() > cutoff) continue;
        try {
          await this.client.send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
            this.sendOpts(opts.signal),
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

/** The HTTP handler's rare warnings (socket pool at capacity), as JSON log lines. */
function handlerLogger(logger: Logger, endpoint: string) {
  const line =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...content: unknown[]): void =>
      logger[level]({ endpoint }, redactText(content.map(String).join(' ')));
  return {
    trace: () => undefined,
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}

function lockParams(lock: ObjectLock): {
  ObjectLockMode: 'GOVERNANCE' | 'COMPLIANCE';
  ObjectLockRetainUntilDate: Date;
} {
  return {
    ObjectLockMode: lock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    ObjectLockRetainUntilDate: lock.retainUntil,
  };
}

function abortError(): Error {
  return Object.assign(new Error('put cancelled'), { name: 'AbortError' });
}
