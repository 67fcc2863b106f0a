/**
 * Maintenance.Snapshot as a Node Readable of raw bytes: the bbolt db followed by etcd's 32-byte sha256,
 * exactly the bytes `etcdctl snapshot save` writes. The call hands its pieces over as views of the
 * ~16 KiB HTTP/2 chunks they arrived in; they are copied here into 256 KiB chunks, which are what the
 * Readable yields (a few thousand buffers a GiB for the collector instead of ~65,000 small ones, and
 * fewer, larger calls into the hashing and compression downstream). The gRPC call is paused whenever the Readable's buffer is full, so memory stays flat
 * however slow the consumer is. There is no total deadline (a large db takes as long as it takes);
 * instead the stream fails when etcd sends nothing for idleTimeoutMs while we are reading.
 */
import { Readable } from 'node:stream';
import { DrError, isDrError } from '../core/errors.js';
import type { SnapshotCall } from './snapshot-call.js';

export interface SnapshotStreamOptions {
  endpoint: string;
  idleTimeoutMs: number;
  /** connects, authenticates and starts the call */
  open: () => Promise<SnapshotCall>;
  /** maps a failure before the first byte (auth, permission, TLS, unreachable) */
  classify: (err: unknown) => DrError;
  /** true when the failure is worth one re-authentication and retry */
  shouldRetry: (err: unknown) => boolean;
  beforeRetry: () => void;
  signal?: AbortSignal;
  /**
   * Bytes queued before the call is paused. Small on purpose: a chunk that waits in a queue outlives V8's
   * scavenges and is then freed only by a full collection (256 KiB instead of 4 MiB took a 2 GiB backup
   * from ~155 to ~125 MB of peak RSS); four chunks, so that the call is not paused after every one.
   * @default 1 MiB
   */
  highWaterMark?: number;
}

/** the size of the chunks the stream yields */
const CHUNK_BYTES = 256 * 1024;

function detailsOf(err: unknown): string {
  const e = err as { details?: string; message?: string };
  return e.details || e.message || String(err);
}

export function createSnapshotStream(o: SnapshotStreamOptions): Readable {
  let call: SnapshotCall | undefined;
  let paused = false;
  let received = 0;
  let lastRemaining: bigint | undefined;
  let idle: NodeJS.Timeout | undefined;
  let finished = false;
  let chunk: Buffer | null = null;
  let chunkFill = 0;

  const streamFailed = (why: string, cause?: unknown) =>
    new DrError(
      'SNAPSHOT_STREAM_FAILED',
      `etcd: snapshot stream from ${o.endpoint} broke off after ${received} bytes: ${why}`,
      { endpoint: o.endpoint, bytesReceived: received },
      cause === undefined ? undefined : { cause },
    );

  // One timer, not one per piece (a snapshot arrives in ~65,000 pieces a GiB): data only moves the time
  // of the last activity forward, and the timer, when it fires early, waits for the rest.
  let lastActivity = 0;
  const clearIdle = () => {
    if (idle) clearTimeout(idle);
    idle = undefined;
  };
  const checkIdle = () => {
    const quiet = performance.now() - lastActivity;
    if (quiet >= o.idleTimeoutMs) fail(streamFailed(`no data for ${o.idleTimeoutMs} ms`));
    else idle = setTimeout(checkIdle, o.idleTimeoutMs - quiet);
  };
  const armIdle = () => {
    lastActivity = performance.now();
    if (!idle) idle = setTimeout(checkIdle, o.idleTimeoutMs);
  };

  const onAbort = () => fail(new DrError('ABORTED', `etcd: snapshot from ${o.endpoint} cancelled`));

  const readable = new Readable({
    highWaterMark: o.highWaterMark ?? 1024 * 1024,
    read() {
      if (call && paused) {
        paused = false;
        armIdle();
        call.resume();
      }
    },
    destroy(err, cb) {
      finished = true;
      clearIdle();
      o.signal?.removeEventListener('abort', onAbort);
      if (call) {
        call.removeAllListeners();
        call.on('error', () => undefined); // the CANCELLED status we cause
        call.cancel();
      }
      cb(err);
    },
  });

  function fail(err: DrError): void {
    if (finished) return;
    finished = true;
    readable.destroy(err);
  }

  async function begin(mayRetry: boolean): Promise<void> {
    let c: SnapshotCall;
    try {
      c = await o.open();
    } catch (err) {
      fail(isDrError(err) ? err : o.classify(err));
      return;
    }
    if (finished) {
      c.on('error', () => undefined); // the CANCELLED status we cause
      c.cancel();
      return;
    }
    call = c;
    armIdle();
    c.on('remaining', (bytes) => {
      lastRemaining = bytes;
    });
    c.on('blob', (piece) => {
      if (finished) return;
      lastActivity = performance.now();
      received += piece.length;
      // the piece is valid only now: copy it into the chunk being filled, pushing each one that fills up
      let offset = 0;
      while (offset < piece.length) {
        chunk ??= Buffer.allocUnsafe(CHUNK_BYTES);
        const n = piece.copy(chunk, chunkFill, offset);
        chunkFill += n;
        offset += n;
        if (chunkFill < chunk.length) break;
        const full = chunk;
        chunk = null;
        chunkFill = 0;
        if (!readable.push(full) && !paused) {
          paused = true;
          clearIdle();
          c.pause();
        }
      }
    });
    c.on('error', (err: unknown) => {
      if (finished) return;
      if (received === 0 && mayRetry && o.shouldRetry(err)) {
        c.removeAllListeners();
        c.on('error', () => undefined);
        clearIdle();
        o.beforeRetry();
        void begin(false);
        return;
      }
      // Before the first byte the cause is about access (permission, auth, TLS, reachability); after it,
      // the stream broke off and the partial data is worthless.
      fail(received === 0 ? o.classify(err) : streamFailed(detailsOf(err), err));
    });
    c.on('end', () => {
      if (finished) return;
      clearIdle();
      if (lastRemaining !== 0n || received === 0) {
        fail(streamFailed(`the stream ended with ${lastRemaining ?? 'unknown'} bytes still announced`));
        return;
      }
      finished = true;
      o.signal?.removeEventListener('abort', onAbort);
      if (chunk && chunkFill) readable.push(chunk.subarray(0, chunkFill));
      chunk = null;
      readable.push(null);
    });
  }

  if (o.signal?.aborted) {
    queueMicrotask(onAbort);
  } else {
    o.signal?.addEventListener('abort', onAbort, { once: true });
    void begin(true);
  }
  return readable;
}
