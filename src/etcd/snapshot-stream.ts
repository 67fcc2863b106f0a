/**
 * Maintenance.Snapshot as a Node Readable of raw bytes: the bbolt db followed by etcd's 32-byte sha256,
 * exactly the bytes `etcdctl snapshot save` writes. The gRPC call is paused whenever the Readable's buffer
 * is full, so memory stays flat however slow the consumer is. There is no total deadline (a large db takes
 * as long as it takes); instead the stream fails when etcd sends nothing for idleTimeoutMs while we are
 * reading.
 */
import { Readable } from 'node:stream';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { DrError, isDrError } from '../core/errors.js';

export interface RawSnapshotResponse {
  remaining_bytes: string;
  blob: Buffer;
}

export interface SnapshotStreamOptions {
  endpoint: string;
  idleTimeoutMs: number;
  /** connects, authenticates and starts the call */
  open: () => Promise<ClientReadableStream<RawSnapshotResponse>>;
  /** maps a failure before the first byte (auth, permission, TLS, unreachable) */
  classify: (err: unknown) => DrError;
  /** true when the failure is worth one re-authentication and retry */
  shouldRetry: (err: unknown) => boolean;
  beforeRetry: () => void;
  signal?: AbortSignal;
  /** @default 4 MiB */
  highWaterMark?: number;
}

function detailsOf(err: unknown): string {
  const e = err as { details?: string; message?: string };
  return e.details || e.message || String(err);
}

export function createSnapshotStream(o: SnapshotStreamOptions): Readable {
  let call: ClientReadableStream<RawSnapshotResponse> | undefined;
  let paused = false;
  let received = 0;
  let lastRemaining: bigint | undefined;
  let idle: NodeJS.Timeout | undefined;
  let finished = false;

  const streamFailed = (why: string, cause?: unknown) =>
    new DrError(
      'SNAPSHOT_STREAM_FAILED',
      `etcd: snapshot stream from ${o.endpoint} broke off after ${received} bytes: ${why}`,
      { endpoint: o.endpoint, bytesReceived: received },
      cause === undefined ? undefined : { cause },
    );

  const clearIdle = () => {
    if (idle) clearTimeout(idle);
    idle = undefined;
  };
  const armIdle = () => {
    clearIdle();
    idle = setTimeout(() => {
      fail(streamFailed(`no data for ${o.idleTimeoutMs} ms`));
    }, o.idleTimeoutMs);
  };

  const onAbort = () => fail(new DrError('ABORTED', `etcd: snapshot from ${o.endpoint} cancelled`));

  const readable = new Readable({
    highWaterMark: o.highWaterMark ?? 4 * 1024 * 1024,
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
        call.removeAllListeners('data');
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
    let c: ClientReadableStream<RawSnapshotResponse>;
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
    c.on('data', (msg: RawSnapshotResponse) => {
      if (finished) return;
      armIdle();
      lastRemaining = BigInt(msg.remaining_bytes || '0');
      if (msg.blob.length === 0) return;
      received += msg.blob.length;
      if (!readable.push(msg.blob)) {
        paused = true;
        clearIdle();
        c.pause();
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
