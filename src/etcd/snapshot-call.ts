/**
 * The Maintenance.Snapshot call over Node's own HTTP/2 client (`node:http2`), rather than through grpc-js.
 *
 * Why not grpc-js: a snapshot is gigabytes in 32 KiB gRPC messages. grpc-js reassembles every message,
 * decodes it into an object and passes it through several streams (4.6 s of CPU to drain 2 GiB). Here each
 * DATA chunk Node hands over goes straight into SnapshotResponseDecoder, which passes the blob on as slices
 * of that chunk. Over mTLS (how etcd is run) this measured at most ~0.35 s of CPU a GiB more than the
 * hand-made HTTP/2 client it replaced (src/etcd/README.md), and leaves framing, HPACK, flow control,
 * SETTINGS/PING and TLS to Node.
 *
 * Everything else (status, member list, auth, HashKV) stays on grpc-js; this call reuses its endpoint, TLS
 * material (CA, client certificate and key, server name) and auth token. Failures are raised in grpc-js's
 * shape ({ code, details }) so that classify-error.ts treats both alike: a connection or TLS failure is
 * UNAVAILABLE with Node's reason (the OpenSSL text for TLS), an error status from etcd keeps its code.
 *
 * One session per call, one stream per session: the call owns its connection, and closing it is how a
 * cancelled or failed call tells etcd to stop.
 */
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { SnapshotDecodeError, SnapshotResponseDecoder } from './snapshot-response-decoder.js';
import { connectH2, type H2Target } from './h2-connect.js';

export interface SnapshotCallOptions extends H2Target {
  /** etcd auth token, sent as the `token` header (marked sensitive: never HPACK-indexed) */
  token?: string;
  /**
   * HTTP/2 flow-control window for the stream (SETTINGS_INITIAL_WINDOW_SIZE) and the connection
   * (`setLocalWindowSize`): how far etcd may send ahead of what dr has consumed. HTTP/2's 64 KiB default
   * makes etcd wait for a WINDOW_UPDATE every other message; 4 MiB keeps a LAN link full (a 1 ms round
   * trip at 1 GB/s is 1 MiB in flight) and bounds what a call paused for a slow consumer leaves buffered
   * (well under Node's 10 MB per-session memory limit). @default 4 MiB
   */
  windowBytes?: number;
  /** connect + TLS handshake limit @default 5000 */
  dialTimeoutMs?: number;
}

/** A gRPC failure in grpc-js's shape. */
export class SnapshotCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${GrpcStatus[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

export interface SnapshotCall {
  /** a piece of the snapshot: a view of a received chunk, valid only during the call (copy it to keep it) */
  on(event: 'blob', listener: (piece: Buffer) => void): this;
  on(event: 'remaining', listener: (bytes: bigint) => void): this;
  on(event: 'error', listener: (err: SnapshotCallError) => void): this;
  on(event: 'end', listener: () => void): this;
  removeAllListeners(): this;
  pause(): void;
  resume(): void;
  cancel(): void;
}

const PATH = '/etcdserverpb.Maintenance/Snapshot';
/** an empty SnapshotRequest: flag 0 (not compressed), length 0 */
const EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
export const DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024;

/** HTTP/2 error codes worth a name in a message (RFC 9113 section 7) */
const ERROR_CODE_NAME: Record<number, string> = {
  0: 'NO_ERROR',
  1: 'PROTOCOL_ERROR',
  2: 'INTERNAL_ERROR',
  3: 'FLOW_CONTROL_ERROR',
  6: 'FRAME_SIZE_ERROR',
  7: 'REFUSED_STREAM',
  8: 'CANCEL',
  9: 'COMPRESSION_ERROR',
  11: 'ENHANCE_YOUR_CALM',
};

export function errorCodeText(code: number): string {
  return `HTTP/2 code ${code}${ERROR_CODE_NAME[code] ? ` ${ERROR_CODE_NAME[code]}` : ''}`;
}

function decodeGrpcMessage(raw: unknown): string {
  if (typeof raw !== 'string' || !raw) return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

class Http2SnapshotCall extends EventEmitter implements SnapshotCall {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private readonly decoder: SnapshotResponseDecoder;
  private readonly dial: NodeJS.Timeout;
  private statusSeen = false;
  private done = false;

  constructor(o: SnapshotCallOptions) {
    super();
    const window = o.windowBytes ?? DEFAULT_WINDOW_BYTES;
    const dialTimeoutMs = o.dialTimeoutMs ?? 5000;
    this.decoder = new SnapshotResponseDecoder({
      blob: (piece) => this.emit('blob', piece),
      remaining: (bytes) => this.emit('remaining', bytes),
    });

    const { session, authority } = connectH2(o, {
      settings: { enablePush: false, initialWindowSize: window },
    });
    this.session = session;
    this.dial = setTimeout(
      () => this.fail(GrpcStatus.UNAVAILABLE, `no connection within ${dialTimeoutMs} ms`),
      dialTimeoutMs,
    );
    this.session.once('connect', (session: http2.ClientHttp2Session) => {
      clearTimeout(this.dial);
      // the connection's window starts at 64 KiB whatever SETTINGS say: raise it to the stream's
      if (!this.done) session.setLocalWindowSize(window);
    });
    this.session.on('error', (err: Error) => this.fail(GrpcStatus.UNAVAILABLE, err.message));
    this.session.on('goaway', (code: number, lastStreamId: number, debug?: Buffer) => {
      // code 0 with our stream taken is a graceful shutdown that lets the response finish
      const ours = this.stream.id ?? 1;
      if (code === 0 && lastStreamId >= ours) return;
      const text = debug?.toString('utf8').trim();
      this.fail(
        GrpcStatus.UNAVAILABLE,
        `the server sent GOAWAY (${errorCodeText(code)})${text ? `: ${text}` : ''}`,
      );
    });
    this.session.on('close', () =>
      this.fail(GrpcStatus.UNAVAILABLE, 'the connection was lost before the response ended'),
    );

    // (the types do not know the sensitiveHeaders symbol key)
    const headers: http2.OutgoingHttpHeaders & { [k: symbol]: string[] } = {
      ':method': 'POST',
      ':path': PATH,
      // Node would write an IPv6 authority without its brackets
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (o.token) {
      headers.token = o.token;
      headers[http2.sensitiveHeaders] = ['token'];
    }
    const stream = this.session.request(headers, { endStream: false });
    this.stream = stream;
    stream.end(EMPTY_REQUEST);
    stream.on('response', (h) => this.onResponse(h));
    stream.on('trailers', (h: http2.IncomingHttpHeaders) => this.onStatus(h));
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onStreamEnd());
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_HTTP2_STREAM_ERROR') this.failReset();
      else this.fail(GrpcStatus.UNAVAILABLE, err.message);
    });
    stream.on('close', () => {
      if (this.done) return;
      // closed neither by END_STREAM nor by an error event: the connection went or the stream was reset
      if (this.session.destroyed || this.session.closed)
        this.fail(GrpcStatus.UNAVAILABLE, 'the connection was lost before the response ended');
      else this.failReset();
    });
  }

  private failReset(): void {
    this.fail(
      GrpcStatus.UNAVAILABLE,
      `the stream was reset before the response ended (${errorCodeText(this.stream.rstCode ?? -1)})`,
    );
  }

  private onResponse(h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    // a status in the response headers is a trailers-only response: an error before any data
    if (this.onStatus(h)) return;
    if (h[':status'] !== 200) {
      this.fail(GrpcStatus.UNAVAILABLE, `the server answered HTTP ${h[':status']}, not gRPC`);
      return;
    }
    const ct = h['content-type'] ?? '';
    if (!ct.startsWith('application/grpc'))
      this.fail(GrpcStatus.UNAVAILABLE, `the server answered with content-type "${ct}", not gRPC`);
  }

  private onStatus(h: http2.IncomingHttpHeaders): boolean {
    const raw = h['grpc-status'];
    if (raw === undefined) return false;
    this.statusSeen = true;
    const code = Number(raw);
    if (code !== Number(GrpcStatus.OK))
      this.fail(code, decodeGrpcMessage(h['grpc-message']) || `status ${code}`);
    return true;
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    try {
      this.decoder.write(chunk);
    } catch (err) {
      if (err instanceof SnapshotDecodeError)
        this.fail(GrpcStatus.INTERNAL, `malformed snapshot response: ${err.message}`);
      else this.fail(GrpcStatus.INTERNAL, String(err));
    }
  }

  private onStreamEnd(): void {
    if (this.done) return;
    // Node ends the stream's data when the connection drops, too; then the session is already gone
    if (this.session.destroyed)
      this.fail(GrpcStatus.UNAVAILABLE, 'the connection was lost before the response ended');
    else if (!this.statusSeen) this.fail(GrpcStatus.UNKNOWN, 'the response ended without a gRPC status');
    else if (!this.decoder.atBoundary) this.fail(GrpcStatus.INTERNAL, 'the response ended inside a message');
    else {
      this.done = true;
      this.close();
      this.emit('end');
    }
  }

  private fail(code: number, details: string): void {
    if (this.done) return;
    this.done = true;
    this.close();
    this.emit('error', new SnapshotCallError(code, details));
  }

  private close(): void {
    clearTimeout(this.dial);
    // the stream is over or abandoned either way; the server sees the connection close and drops the call
    if (!this.session.destroyed) this.session.destroy();
  }

  pause(): void {
    // Node stops reading the stream's data once its small internal buffer fills, no WINDOW_UPDATE goes
    // out, and etcd stops at the window
    this.stream.pause();
  }

  resume(): void {
    if (!this.done) this.stream.resume();
  }

  cancel(): void {
    this.fail(GrpcStatus.CANCELLED, 'cancelled by the client');
  }
}

/** Starts the call at once; listen for 'blob', 'remaining', 'error' and 'end'. */
export function startSnapshotCall(o: SnapshotCallOptions): SnapshotCall {
  return new Http2SnapshotCall(o);
}
