/**
 * The Maintenance.Snapshot call, made over a plain TCP or TLS socket that speaks just enough HTTP/2 for
 * one gRPC stream, rather than through grpc-js or Node's http2 module.
 *
 * Why: a snapshot is gigabytes in 16 KiB HTTP/2 frames. grpc-js reassembles every 32 KiB message and
 * passes it through several streams (4.6 s of CPU to drain 2 GiB); Node's http2 still makes a buffer, an
 * event and a stream push per frame and a fresh 64 KiB buffer per socket read (1.8–2.2 s for 1.08 GB).
 * Here the socket reads into one reused buffer (net's `onread`), frames are parsed in place and each
 * blob is handed on as views of that buffer: 0.9 s for the same 1.08 GB, measured on the bench member.
 * On the two cores dr shares with etcd, that CPU is wall time.
 *
 * Everything else (status, member list, auth, HashKV) stays on grpc-js; this call reuses its endpoint,
 * TLS material and auth token. Failures are raised in grpc-js's shape ({ code, details }) so that
 * classify-error.ts treats both alike: a connection or TLS failure is UNAVAILABLE with Node's reason, an
 * error status from etcd keeps its code.
 *
 * What the client side of HTTP/2 needs and this does: the preface and SETTINGS (push off, our window),
 * SETTINGS and PING acknowledgements, WINDOW_UPDATE as data is consumed, HPACK (hpack.ts), padding,
 * CONTINUATION, RST_STREAM and GOAWAY. It opens exactly one stream and sends no data beyond its request.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { HeaderBlockDecoder, HpackError, encodeHeaderBlock } from './hpack.js';
import { FrameReader, Http2ProtocolError } from './http2-frame-reader.js';
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  Flag,
  FrameType,
  Setting,
  errorCodeText,
  frame,
  headerFrames,
  settingsFrame,
  windowUpdateFrame,
} from './http2-wire.js';
import { SnapshotDecodeError, SnapshotResponseDecoder } from './snapshot-response-decoder.js';
import type { TlsMaterial } from './tls-credentials.js';

export interface SnapshotCallOptions {
  /** host:port ([v6 address]:port) */
  address: string;
  secure: boolean;
  tls?: TlsMaterial;
  /** etcd auth token, sent as the `token` header */
  token?: string;
  /**
   * HTTP/2 flow-control window for the stream and the connection: how far etcd may send ahead of what dr
   * has consumed. 2 MiB keeps a loopback or LAN link full (64 KiB, HTTP/2's default, made etcd wait for a
   * WINDOW_UPDATE every two messages) while bounding what a paused call leaves in the socket. @default 2 MiB
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
  /** a piece of the snapshot: a view of the read buffer, valid only during the call (copy it to keep it) */
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
const STREAM = 1;
/** an empty SnapshotRequest: flag 0, length 0 */
const EMPTY_REQUEST = Buffer.from([0, 0, 0, 0, 0]);
/** socket reads land here; 256 KiB is what a loopback read delivers at most */
const READ_BUFFER = 256 << 10;
/** a response header block larger than this is refused (etcd's are ~100 bytes) */
const MAX_HEADER_BLOCK = 64 << 10;

function decodeGrpcMessage(raw: string | undefined): string {
  if (!raw) return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}

class RawSnapshotCall extends EventEmitter implements SnapshotCall {
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly decoder: SnapshotResponseDecoder;
  private readonly hpack = new HeaderBlockDecoder();
  private readonly window: number;
  private readonly dial: NodeJS.Timeout;
  /** a header block being collected (HEADERS then CONTINUATION), and whether it ends the stream */
  private block: Buffer[] | null = null;
  private blockBytes = 0;
  private blockEndsStream = false;
  private responseSeen = false;
  private statusSeen = false;
  /** bytes consumed since the last WINDOW_UPDATE */
  private unacknowledged = 0;
  private done = false;
  private paused = false;

  constructor(o: SnapshotCallOptions) {
    super();
    this.window = o.windowBytes ?? 2 * 1024 * 1024;
    const dialTimeoutMs = o.dialTimeoutMs ?? 5000;
    this.decoder = new SnapshotResponseDecoder({
      blob: (piece) => this.emit('blob', piece),
      remaining: (bytes) => this.emit('remaining', bytes),
    });
    this.reader = new FrameReader({
      data: (stream, piece) => this.onData(stream, piece),
      dataEnd: (stream, flowBytes, flags) => this.onDataEnd(stream, flowBytes, flags),
      frame: (type, flags, stream, payload) => this.onFrame(type, flags, stream, payload),
    });

    const { host, port } = splitAddress(o.address);
    const onread = {
      buffer: Buffer.allocUnsafe(READ_BUFFER),
      callback: (n: number, buf: Buffer): boolean => this.onBytes(buf.subarray(0, n)),
    };
    // Node's TLS sockets honour `onread` as plain ones do (Node 20); only the type definitions lack it
    const tlsOptions: tls.ConnectionOptions & Pick<net.TcpNetConnectOpts, 'onread'> = {
      host,
      port,
      servername: net.isIP(host) ? undefined : host,
      ALPNProtocols: ['h2'],
      ca: o.tls?.ca ?? undefined,
      cert: o.tls?.cert ?? undefined,
      key: o.tls?.key ?? undefined,
      onread,
    };
    const socket = o.secure ? tls.connect(tlsOptions) : net.connect({ host, port, onread });
    this.socket = socket;
    this.dial = setTimeout(
      () => this.fail(GrpcStatus.UNAVAILABLE, `no connection within ${dialTimeoutMs} ms`),
      dialTimeoutMs,
    );
    socket.setNoDelay(true);
    socket.once(o.secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(this.dial);
      if (!this.done) this.sendRequest(o, host, port);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(GrpcStatus.UNAVAILABLE, err.message));
    socket.on('close', () => {
      clearTimeout(this.dial);
      this.fail(GrpcStatus.UNAVAILABLE, 'the connection was lost before the response ended');
    });
  }

  private sendRequest(o: SnapshotCallOptions, host: string, port: number): void {
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const fields: [string, string][] = [
      [':method', 'POST'],
      [':scheme', o.secure ? 'https' : 'http'],
      [':path', PATH],
      [':authority', authority],
      ['content-type', 'application/grpc+proto'],
      ['te', 'trailers'],
    ];
    if (o.token) fields.push(['token', o.token]);
    this.socket.write(
      Buffer.concat([
        CLIENT_PREFACE,
        settingsFrame([
          [Setting.ENABLE_PUSH, 0],
          [Setting.INITIAL_WINDOW_SIZE, this.window],
        ]),
        // the connection's window starts at 64 KiB whatever SETTINGS say: raise it to match the stream's
        windowUpdateFrame(0, this.window - DEFAULT_WINDOW),
        ...headerFrames(STREAM, encodeHeaderBlock(fields, ['token']), false),
        frame(FrameType.DATA, Flag.END_STREAM, STREAM, EMPTY_REQUEST),
      ]),
    );
  }

  /** One socket read; returning false pauses reading. */
  private onBytes(bytes: Buffer): boolean {
    if (this.done) return false;
    try {
      this.reader.push(bytes);
    } catch (err) {
      if (err instanceof SnapshotDecodeError)
        this.fail(GrpcStatus.INTERNAL, `malformed snapshot response: ${err.message}`);
      else if (err instanceof Http2ProtocolError || err instanceof HpackError)
        this.fail(GrpcStatus.INTERNAL, `HTTP/2 protocol error from the server: ${err.message}`);
      else this.fail(GrpcStatus.INTERNAL, String(err));
      return false;
    }
    if (this.done) return false;
    // acknowledged in batches of half the window: one pair of frames per MiB, not per 16 KiB frame
    if (this.unacknowledged >= this.window / 2) {
      const n = this.unacknowledged;
      this.unacknowledged = 0;
      this.socket.write(Buffer.concat([windowUpdateFrame(0, n), windowUpdateFrame(STREAM, n)]));
    }
    return !this.paused;
  }

  private onData(stream: number, piece: Buffer): void {
    if (this.done || stream !== STREAM) return;
    if (this.block) throw new Http2ProtocolError('DATA inside a header block');
    if (!this.responseSeen) throw new Http2ProtocolError('DATA before the response headers');
    this.decoder.write(piece);
  }

  private onDataEnd(stream: number, flowBytes: number, flags: number): void {
    // the connection's window counts every stream's DATA (a server sends none on others, but may)
    this.unacknowledged += flowBytes;
    if (stream === STREAM && flags & Flag.END_STREAM) this.onStreamEnd();
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (this.done) return;
    if (this.block && type !== FrameType.CONTINUATION)
      throw new Http2ProtocolError(`frame type ${type} inside a header block`);
    switch (type) {
      case FrameType.SETTINGS:
        if (stream !== 0) throw new Http2ProtocolError('SETTINGS on a stream');
        if (flags & Flag.ACK) return;
        if (payload.length % 6 !== 0)
          throw new Http2ProtocolError('SETTINGS of a length not a multiple of 6');
        this.socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
        return;
      case FrameType.PING:
        if (payload.length !== 8) throw new Http2ProtocolError('PING of a length other than 8');
        if (!(flags & Flag.ACK)) this.socket.write(frame(FrameType.PING, Flag.ACK, 0, payload));
        return;
      case FrameType.GOAWAY: {
        if (payload.length < 8) throw new Http2ProtocolError('GOAWAY shorter than 8 bytes');
        const lastStream = payload.readUInt32BE(0) & 0x7fffffff;
        const code = payload.readUInt32BE(4);
        const debug = payload.subarray(8).toString('utf8').trim();
        // code 0 with our stream taken is a graceful shutdown that lets the response finish
        if (code !== 0 || lastStream < STREAM)
          this.fail(
            GrpcStatus.UNAVAILABLE,
            `the server sent GOAWAY (${errorCodeText(code)})${debug ? `: ${debug}` : ''}`,
          );
        return;
      }
      case FrameType.RST_STREAM:
        if (stream === STREAM) {
          const code = payload.length >= 4 ? payload.readUInt32BE(0) : -1;
          this.fail(
            GrpcStatus.UNAVAILABLE,
            `the stream was reset before the response ended (${errorCodeText(code)})`,
          );
        }
        return;
      case FrameType.HEADERS:
        if (stream !== STREAM) return;
        this.startBlock(flags, payload);
        return;
      case FrameType.CONTINUATION:
        if (!this.block || stream !== STREAM) throw new Http2ProtocolError('CONTINUATION without HEADERS');
        this.addToBlock(payload, flags);
        return;
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError('PUSH_PROMISE although push is disabled');
      default:
        return; // WINDOW_UPDATE (we send only the request), PRIORITY, extensions
    }
  }

  private startBlock(flags: number, payload: Buffer): void {
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      const pad = payload[0] ?? 0;
      start = 1;
      end -= pad;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new Http2ProtocolError('HEADERS shorter than its padding and priority');
    this.block = [];
    this.blockBytes = 0;
    this.blockEndsStream = (flags & Flag.END_STREAM) !== 0;
    this.addToBlock(payload.subarray(start, end), flags);
  }

  private addToBlock(fragment: Buffer, flags: number): void {
    this.block!.push(fragment);
    this.blockBytes += fragment.length;
    if (this.blockBytes > MAX_HEADER_BLOCK)
      throw new Http2ProtocolError(`a header block over ${MAX_HEADER_BLOCK} bytes`);
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.block!);
    this.block = null;
    this.onHeaders(this.hpack.decode(block), this.blockEndsStream);
  }

  private onHeaders(h: Map<string, string>, endStream: boolean): void {
    const first = !this.responseSeen;
    this.responseSeen = true;
    // a status in the first block is a trailers-only response: an error before any data
    if (!this.onStatus(h) && first) {
      const st = Number(h.get(':status'));
      if (st !== 200) {
        this.fail(GrpcStatus.UNAVAILABLE, `the server answered HTTP ${h.get(':status')}, not gRPC`);
        return;
      }
      const ct = h.get('content-type') ?? '';
      if (!ct.startsWith('application/grpc')) {
        this.fail(GrpcStatus.UNAVAILABLE, `the server answered with content-type "${ct}", not gRPC`);
        return;
      }
    }
    if (endStream) this.onStreamEnd();
  }

  private onStatus(h: Map<string, string>): boolean {
    const raw = h.get('grpc-status');
    if (raw === undefined) return false;
    this.statusSeen = true;
    const code = Number(raw);
    if (code !== GrpcStatus.OK) this.fail(code, decodeGrpcMessage(h.get('grpc-message')) || `status ${code}`);
    return true;
  }

  private onStreamEnd(): void {
    if (this.done) return;
    if (!this.statusSeen) this.fail(GrpcStatus.UNKNOWN, 'the response ended without a gRPC status');
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
    if (!this.socket.destroyed) this.socket.destroy();
  }

  pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false;
      if (!this.done) this.socket.resume();
    }
  }

  cancel(): void {
    this.fail(GrpcStatus.CANCELLED, 'cancelled by the client');
  }
}

/** Starts the call at once; listen for 'blob', 'remaining', 'error' and 'end'. */
export function startSnapshotCall(o: SnapshotCallOptions): SnapshotCall {
  return new RawSnapshotCall(o);
}
