/**
 * The one streaming upload in parts that the object-store backends share (s3:// multipart upload,
 * azblob:// blocks): the body is copied into part-sized buffers from a pool of queueSize + 1 that is
 * reused across parts, and at most queueSize parts are in flight. Memory is therefore bounded by about
 * (queueSize + 1) x partSize whatever the object size, and no part is ever concatenated or copied again
 * (a library that gathers the body's chunks with Buffer.concat per part holds several part-sized copies
 * at once: see docs/benchmarks.md, "S3 backup memory").
 *
 * The service's requests are the caller's (a PartSink); this module owns the pool, the queue, the order of
 * events and who failed first:
 * - a body smaller than one part goes up in one request (`whole`), which is the commit point;
 * - otherwise every part is staged (`part`) and, once all succeeded, `commit` publishes the object;
 * - the first real cause wins: the body's own error, else the first failed request, else the operator's
 *   cancellation. The parts still in flight are then cut at once (their signal), the body is no longer
 *   read, and the knock-on cancellations of the siblings are never reported.
 * Clean-up (abort the multipart upload, discard blocks, remove a commit that raced a cancellation) is the
 * caller's: PartUploadFailed says what was started.
 */
import type { Readable } from 'node:stream';
import { isAbortError } from '../core/errors.js';

export interface PartSink {
  /**
   * Stores part `index` (0-based). `data` is a view of a pooled buffer: it is reused for another part as
   * soon as the returned promise settles, so the sink must not keep it.
   */
  part(index: number, data: Buffer, signal: AbortSignal): Promise<void>;
  /** The whole body in one request: used when it is smaller than one part. The commit point. */
  whole(data: Buffer, signal: AbortSignal): Promise<void>;
  /** Every one of `parts` parts is stored: publish the object. The commit point. */
  commit(parts: number, signal: AbortSignal): Promise<void>;
}

export interface PartUploadOptions {
  partSize: number;
  /** Parts in flight at once (>= 1). */
  queueSize: number;
  /** The most parts the service accepts; one more is a request error made by `tooManyParts`. */
  maxParts: number;
  tooManyParts: () => Error;
  signal?: AbortSignal;
  /** Called with the number of body bytes consumed so far. */
  onProgress?: (bytes: number) => void;
}

/** Why an upload in parts did not publish its object, and what it had started. */
export class PartUploadFailed extends Error {
  constructor(
    /** body: the body stream failed; request: a request of the sink failed; cancelled: the operator's signal */
    readonly source: 'body' | 'request' | 'cancelled',
    /** the first real cause (for 'cancelled', the signal's reason) */
    readonly firstCause: unknown,
    /** a commit request (`whole` or `commit`) was sent: on a cancellation the object may exist anyway */
    readonly commitSent: boolean,
    /** parts handed to the sink (0: no multipart state exists on the service) */
    readonly partsStarted: number,
  ) {
    super(`upload in parts failed (${source})`, { cause: firstCause });
    this.name = 'PartUploadFailed';
  }
}

/** Streams `body` through `sink`; resolves with the number of bytes stored once the object is published. */
export async function uploadInParts(
  body: Readable,
  sink: PartSink,
  opts: PartUploadOptions,
): Promise<{ size: number }> {
  const { partSize, queueSize, maxParts, signal, onProgress } = opts;
  // Parts in flight are cut by the upload's own signal: the operator's, or the first failed request.
  const parts = new AbortController();
  const reqSignal = signal ? AbortSignal.any([signal, parts.signal]) : parts.signal;
  // A read waiting on a slow producer wakes up when the operator cancels.
  const onAbort = (): void => {
    body.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  let bodyError: unknown;
  let requestError: unknown;
  let hasRequestError = false;
  const failRequest = (err: unknown): void => {
    if (!hasRequestError && !isAbortError(err)) {
      hasRequestError = true;
      requestError = err;
    }
    parts.abort();
  };
  const pool: Buffer[] = [];
  const inflight = new Set<Promise<void>>();
  let started = 0;
  let size = 0;
  let commitSent = false;
  const stopped = (): boolean => hasRequestError || reqSignal.aborted;

  const stage = async (buf: Buffer, len: number): Promise<void> => {
    while (inflight.size >= queueSize) await Promise.race(inflight);
    if (stopped()) return;
    if (started >= maxParts) {
      failRequest(opts.tooManyParts());
      return;
    }
    const index = started++;
    const p: Promise<void> = sink
      .part(index, buf.subarray(0, len), reqSignal)
      .then(() => {
        pool.push(buf);
      }, failRequest)
      .finally(() => inflight.delete(p));
    inflight.add(p);
  };

  const iterator = (body as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  try {
    let cur: Buffer = Buffer.allocUnsafe(partSize);
    let fill = 0;
    for (;;) {
      let next: IteratorResult<Buffer | string>;
      try {
        next = await iterator.next();
      } catch (err) {
        if (!signal?.aborted) bodyError = err ?? new Error('the body stream failed');
        throw err;
      }
      if (next.done) break;
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(partSize - fill, chunk.length - off);
        chunk.copy(cur, fill, off, off + n);
        fill += n;
        off += n;
        if (fill === partSize) {
          await stage(cur, fill);
          cur = pool.pop() ?? Buffer.allocUnsafe(partSize);
          fill = 0;
        }
      }
      size += chunk.length;
      onProgress?.(size);
      if (stopped()) break;
    }
    let committed = false;
    if (!stopped()) {
      if (started === 0) {
        commitSent = true;
        await sink.whole(cur.subarray(0, fill), reqSignal);
        committed = true;
      } else {
        if (fill > 0) await stage(cur, fill);
        while (inflight.size > 0) await Promise.race(inflight);
        if (!stopped()) {
          commitSent = true;
          await sink.commit(started, reqSignal);
          committed = true;
        }
      }
    }
    // A commit in the same instant as a cancellation still counts as cancelled: the caller removes it.
    if (committed && !signal?.aborted) return { size };
    throw new Error('the upload stopped before its commit');
  } catch (err) {
    if (bodyError === undefined && !hasRequestError && !isAbortError(err)) {
      hasRequestError = true;
      requestError = err;
    }
    parts.abort();
    // Stop reading: the producer learns that nobody reads any more, without an error of ours.
    if (bodyError === undefined) await iterator.return?.().catch(() => undefined);
    while (inflight.size > 0) await Promise.race(inflight);
    // The operator's cancellation explains everything after it; before it, the body, then a request.
    if (signal?.aborted) throw new PartUploadFailed('cancelled', signal.reason, commitSent, started);
    if (bodyError !== undefined) throw new PartUploadFailed('body', bodyError, commitSent, started);
    throw new PartUploadFailed('request', requestError ?? err, commitSent, started);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    parts.abort();
  }
}
