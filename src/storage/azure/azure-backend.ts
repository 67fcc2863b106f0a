/**
 * azblob:// backend for Azure Blob Storage (and Azurite) via @azure/storage-blob.
 *
 * - Credentials: azure-credentials.ts (connection string, shared key, SAS, then DefaultAzureCredential),
 *   never the URL.
 * - put streams the body into blocks of blockSizeMiB, queueSize of them staged at once (Put Block), from
 *   a pool of queueSize + 1 buffers reused across blocks (part-upload.ts, shared with s3://): memory is
 *   bounded by about (queueSize + 1) x blockSize whatever the object size. The commit point is Put Block
 *   List; a body smaller than one block goes up in one Put Blob instead. Each block is a Buffer, so the
 *   SDK retries a failed block by itself (maxAttempts); the put as a whole is not retried.
 * - Nothing of a failed or cancelled put stays visible. Its staged blocks are uncommitted, invisible to
 *   every read and list, and Azure drops them after 7 days; the put discards them at once anyway (see
 *   block-discard.ts). An abort that races the commit still wins: the blob is removed again.
 * - cleanupIncomplete lists blobs that have uncommitted blocks only (List Blobs with
 *   include=uncommittedblobs) and discards those older than the cutoff.
 * - Deadlines (connect, answer, download inactivity): azure-deadlines.ts.
 * - The first cause wins: the body's own error, else the first failed request; the blocks still in
 *   flight are then cut at once, and their cancellations are not reported.
 *
 * Over 400 lines on purpose: like s3-backend.ts, the whole Backend contract for one service in one class
 * (block staging, commit, discard, listing, errors per operation); the helpers that stand alone
 * (credentials, deadlines, error mapping, block discard) already live beside it.
 */
import { randomBytes } from 'node:crypto';
import { addAbortSignal, Readable } from 'node:stream';
import type http from 'node:http';
import { BlobServiceClient, newPipeline, type ContainerClient } from '@azure/storage-blob';
import { systemClock, type Clock } from '../../core/clock.js';
import { DrError, isAbortError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import type { Backend, ObjectInfo, OpOptions, PutOptions } from '../backend.js';
import { cancelled } from '../cancel.js';
import { assertValidKey, assertValidPrefix } from '../key.js';
import { PartUploadFailed, uploadInParts, type PartSink } from '../part-upload.js';
import { classifyStreamErrors, isTransportError } from '../stream-errors.js';
import type { AzblobStorageUrl } from '../url.js';
import { discardUncommitted } from './block-discard.js';
import { resolveAzureAuth, type AzureAuth } from './azure-credentials.js';
import { deadlinePolicy } from './azure-deadlines.js';
import {
  azureError,
  azureStatusOf,
  downloadCutOff,
  isDownloadCutOff,
  type AzureErrorContext,
} from './azure-errors.js';

export interface AzureBackendOptions {
  /** Ages of uncommitted blobs are measured against it. @default systemClock */
  clock?: Clock;
  /** Warnings that do not fail the operation (a discard the service refused). @default silentLogger */
  logger?: Logger;
  /** Blobs per List Blobs page (tests use a small one to exercise pagination). @default 1000 */
  listPageSize?: number;
  /** Where the credential chain reads its variables (the CLI passes process.env). @default {} */
  env?: NodeJS.ProcessEnv;
}

const MiB = 1024 * 1024;
/** Azure's limit of blocks in one blob. */
const MAX_BLOCKS = 50_000;
/** The most a clean-up request after a failed or cancelled put may take (it must not prolong a shutdown). */
const CLEANUP_DEADLINE_MS = 10_000;

/** Resolves the credential (possibly loading @azure/identity) and builds the backend. */
export async function openAzureBackend(
  url: AzblobStorageUrl,
  opts: AzureBackendOptions = {},
): Promise<AzureBlobBackend> {
  return new AzureBlobBackend(url, await resolveAzureAuth(url, opts.env ?? {}), opts);
}

export class AzureBlobBackend implements Backend {
  readonly location: string;
  /** Exposed for tests and diagnostics; not for callers' I/O. */
  readonly container: ContainerClient;
  /** Which link of the credential chain is in use (never the secret itself). */
  readonly credentialSource: AzureAuth['source'];
  private readonly prefix: string;
  private readonly endpoint: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly listPageSize: number;
  private readonly agent: http.Agent;

  constructor(
    private readonly url: AzblobStorageUrl,
    auth: AzureAuth,
    opts: AzureBackendOptions = {},
  ) {
    this.prefix = url.prefix;
    this.endpoint = auth.serviceUrl;
    this.location = `azblob://${url.container}/${url.prefix} (account ${url.account}, endpoint ${this.endpoint})`;
    this.credentialSource = auth.source;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.listPageSize = opts.listPageSize ?? 1000;
    const { policy, agent } = deadlinePolicy(url, auth.serviceUrl.startsWith('https:'));
    this.agent = agent;
    const pipeline = newPipeline(auth.credential, {
      retryOptions: { maxTries: url.maxAttempts, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 },
    });
    pipeline.factories.push(policy);
    const service = new BlobServiceClient(auth.serviceUrl + (auth.sas ? `?${auth.sas}` : ''), pipeline);
    this.container = service.getContainerClient(url.container);
  }

  private nameOf(key: string): string {
    assertValidKey(key, this.location);
    return this.prefix + key;
  }

  private ctx(op: string, key?: string): AzureErrorContext {
    return {
      op,
      container: this.url.container,
      endpoint: this.endpoint,
      ...(key !== undefined ? { blob: this.prefix + key } : {}),
    };
  }

  /** A deadline for a clean-up request, which runs after the operation's own signal may have fired. */
  private cleanupSignal(): AbortSignal {
    return AbortSignal.timeout(Math.min(CLEANUP_DEADLINE_MS, this.url.requestTimeoutMs));
  }

  /** The caller's cancellation wins over whatever error the SDK made of it. */
  private fail(err: unknown, ctx: AzureErrorContext, signal: AbortSignal | undefined): DrError {
    if (signal?.aborted)
      return cancelled(`azblob: ${ctx.op}${ctx.blob ? ` "${ctx.blob}"` : ''}`, signal.reason);
    return azureError(err, ctx);
  }

  async put(key: string, body: Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    const { signal, onProgress } = opts;
    const ctx = this.ctx('put', key);
    let name: string;
    try {
      // Azure's immutability policies are not S3 Object Lock, and dr does not set them: a put that asks for
      // a lock is refused rather than stored unlocked
      if (opts.lock)
        throw new DrError(
          'OBJECT_LOCK_UNAVAILABLE',
          `azblob: put "${this.prefix + key}" in ${this.location}: dr sets no Object Lock on Azure Blob Storage; lock backups on an s3:// target with Object Lock enabled (or use a container-level immutability policy, which needs no lock from dr)`,
          { transient: false },
        );
      name = this.nameOf(key);
      if (signal?.aborted) throw cancelled(`azblob: put "${this.prefix + key}"`, signal.reason);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const blob = this.container.getBlockBlobClient(name);
    // Block ids must all have the same length; a random part keeps two puts of one name apart.
    const nonce = randomBytes(8).toString('hex');
    const idOf = (index: number): string =>
      Buffer.from(`${nonce}-${String(index).padStart(6, '0')}`).toString('base64');
    const sink: PartSink = {
      part: async (index, data, s) => {
        await blob.stageBlock(idOf(index), data, data.length, { abortSignal: s });
      },
      whole: async (data, s) => {
        await blob.upload(data, data.length, { abortSignal: s });
      },
      commit: async (blocks, s) => {
        await blob.commitBlockList(
          Array.from({ length: blocks }, (_, i) => idOf(i)),
          { abortSignal: s },
        );
      },
    };
    try {
      return await uploadInParts(body, sink, {
        partSize: this.url.blockSizeMiB * MiB,
        queueSize: this.url.queueSize,
        maxParts: MAX_BLOCKS,
        tooManyParts: () =>
          new DrError(
            'STORAGE_FAILED',
            `azblob: put "${name}": more than ${MAX_BLOCKS} blocks of ${this.url.blockSizeMiB} MiB; raise blockSizeMiB`,
            { transient: false },
          ),
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress } : {}),
      });
    } catch (err) {
      if (!(err instanceof PartUploadFailed)) throw err;
      // Both clean-ups at once, each on its own deadline.
      const [, leftover] = await Promise.all([
        // A commit cut on our side by the cancellation may still have happened on the service's.
        err.source === 'cancelled' && err.commitSent
          ? this.remove(key, { signal: this.cleanupSignal() }).catch(() => undefined)
          : undefined,
        err.partsStarted > 0
          ? discardUncommitted(blob, this.cleanupSignal(), this.logger, this.endpoint)
          : undefined,
      ]);
      const note = leftover ? `; ${leftover}` : '';
      if (err.source === 'cancelled') throw cancelled(`azblob: put "${name}"${note}`, err.firstCause);
      if (err.source === 'body') throw err.firstCause;
      const e = azureError(err.firstCause, ctx);
      if (!leftover) throw e;
      throw new DrError(e.code, e.message + note, { ...e.details, leftover }, { cause: err.firstCause });
    }
  }

  async get(key: string, opts: OpOptions = {}): Promise<Readable> {
    const name = this.nameOf(key);
    const ctx = this.ctx('get', key);
    try {
      const res = await this.container.getBlockBlobClient(name).download(0, undefined, {
        ...(opts.signal ? { abortSignal: opts.signal } : {}),
        // the SDK resumes a body that *ended* early from where it stopped (same etag); a reset it
        // reports as an AbortError instead, without resuming (checked against Azurite)
        maxRetryRequests: this.url.maxAttempts - 1,
      });
      const body = res.readableStreamBody as Readable | undefined;
      if (!body) return Readable.from([]);
      // A reset reaches us as the SDK stream's AbortError: only the caller's signal makes it a cancellation.
      const cutOff = (err: unknown): boolean =>
        isDownloadCutOff(err) || (isAbortError(err) && !opts.signal?.aborted);
      const reading = { ...ctx, op: 'get (reading)' };
      classifyStreamErrors(
        body,
        (err) => (cutOff(err) ? downloadCutOff(err, reading) : azureError(err, reading)),
        (err) => isTransportError(err) || cutOff(err),
      );
      return opts.signal ? addAbortSignal(opts.signal, body) : body;
    } catch (err) {
      throw this.fail(err, ctx, opts.signal);
    }
  }

  async stat(key: string, opts: OpOptions = {}): Promise<ObjectInfo> {
    const name = this.nameOf(key);
    try {
      const res = await this.container
        .getBlockBlobClient(name)
        .getProperties(opts.signal ? { abortSignal: opts.signal } : {});
      return {
        key,
        size: res.contentLength ?? 0,
        lastModified: res.lastModified ?? new Date(0),
        ...(res.immutabilityPolicyExpiresOn ? { retainUntil: res.immutabilityPolicyExpiresOn } : {}),
      };
    } catch (err) {
      throw this.fail(err, this.ctx('stat', key), opts.signal);
    }
  }

  async *list(prefix: string, opts: OpOptions = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix, this.location);
    const pages = this.container
      .listBlobsFlat({
        prefix: this.prefix + prefix,
        ...(opts.signal ? { abortSignal: opts.signal } : {}),
      })
      .byPage({ maxPageSize: this.listPageSize });
    for (;;) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.fail(err, { ...this.ctx('list'), blob: this.prefix + prefix }, opts.signal);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        if (!item.name.startsWith(this.prefix)) continue;
        const key = item.name.slice(this.prefix.length);
        // A zero-length "folder" marker some tools create is not an object of ours.
        if (key === '' || key.endsWith('/')) continue;
        yield {
          key,
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
        };
      }
    }
  }

  async remove(key: string, opts: OpOptions = {}): Promise<void> {
    const name = this.nameOf(key);
    try {
      await this.container.getBlockBlobClient(name).delete({
        deleteSnapshots: 'include',
        ...(opts.signal ? { abortSignal: opts.signal } : {}),
      });
    } catch (err) {
      const e = this.fail(err, this.ctx('remove', key), opts.signal);
      if (e.code === 'STORAGE_NOT_FOUND' && e.details.azureCode === 'BlobNotFound') return;
      throw e;
    }
  }

  async check(opts: OpOptions = {}): Promise<void> {
    // A listing proves the container exists, the endpoint answers and the credential is accepted,
    // without writing a probe blob (which an immutability policy would then keep).
    try {
      const pages = this.container
        .listBlobsFlat({ prefix: this.prefix, ...(opts.signal ? { abortSignal: opts.signal } : {}) })
        .byPage({ maxPageSize: 1 });
      await pages.next();
    } catch (err) {
      throw this.fail(err, this.ctx('check'), opts.signal);
    }
  }

  async cleanupIncomplete(prefix: string, olderThanMs: number, opts: OpOptions = {}): Promise<number> {
    assertValidPrefix(prefix, this.location);
    const cutoff = this.clock.now().getTime() - olderThanMs;
    const sig = opts.signal ? { abortSignal: opts.signal } : {};
    const pages = this.container
      .listBlobsFlat({ prefix: this.prefix + prefix, includeUncommitedBlobs: true, ...sig })
      .byPage({ maxPageSize: this.listPageSize });
    let removed = 0;
    for (;;) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.fail(
          err,
          { ...this.ctx('list uncommitted blobs'), blob: this.prefix + prefix },
          opts.signal,
        );
      }
      if (page.done) return removed;
      for (const item of page.value.segment.blobItems) {
        // A blob with uncommitted blocks only is listed with length 0 and answers 404 to a HEAD.
        if ((item.properties.contentLength ?? 0) !== 0) continue;
        if (item.properties.lastModified.getTime() > cutoff) continue;
        const blob = this.container.getBlockBlobClient(item.name);
        try {
          await blob.getProperties(sig);
          continue; // committed (an empty blob of ours or someone's): not a leftover
        } catch (err) {
          if (azureStatusOf(err) !== 404) {
            throw this.fail(err, { ...this.ctx('stat uncommitted blob'), blob: item.name }, opts.signal);
          }
        }
        if (opts.signal?.aborted) throw cancelled('azblob: cleanupIncomplete', opts.signal.reason);
        const left = await discardUncommitted(
          blob,
          opts.signal ?? this.cleanupSignal(),
          this.logger,
          this.endpoint,
        );
        if (left === undefined) removed++;
      }
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
