/**
 * Edges of the hand-made HTTP/2 + gRPC call that a real etcd does not produce on demand (padding, PING,
 * CONTINUATION, flow control past the window, RST_STREAM, GOAWAY, a malformed or cut-off
 * response, a non-gRPC answer), against a small HTTP/2 server started here. The real paths (TLS, mTLS,
 * auth, permission denied, a member killed mid-stream, backpressure) are tested against etcd in
 * client.test.ts, tls.test.ts, auth.test.ts and snapshot-fault.test.ts.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdServices } from '../../src/etcd/grpc-services.js';
import { startSnapshotCall, type SnapshotCallError } from '../../src/etcd/snapshot-call.js';
import { freePort } from '../helpers/ports.js';

const encode = (msg: object): Buffer => etcdServices().Maintenance.service.Snapshot!.responseSerialize(msg);
function frame(body: Buffer): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(body.length, 1);
  return Buffer.concat([p, body]);
}

type Behaviour = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
/** 1 MiB of blob in 32 KiB messages, each message's bytes set to its index */
const BIG_MESSAGES = 32;
const bigBlob = (i: number) => Buffer.alloc(32 << 10, i);
const behaviours: Record<string, Behaviour> = {
  // Padded frames (this server pads every frame), a PING and a SETTINGS change mid-stream, more data than
  // the test's 64 KiB window, and trailers too large for one frame (HEADERS + CONTINUATION)
  big: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0', 'x-filler': 'f'.repeat(40_000) }));
    let i = 0;
    const next = () => {
      if (i === BIG_MESSAGES / 2) {
        s.session?.ping(() => undefined);
        s.session?.settings({ maxConcurrentStreams: 50 });
      }
      if (i === BIG_MESSAGES) return s.end();
      const left = String((BIG_MESSAGES - i - 1) * (32 << 10));
      if (s.write(frame(encode({ remaining_bytes: left, blob: bigBlob(i++) })))) setImmediate(next);
      else s.once('drain', next);
    };
    next();
  },
  rst: (s) => {
    s.on('error', () => undefined);
    // waitForTrailers keeps Node from ending the stream (END_STREAM) before its RST_STREAM
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.write(frame(encode({ remaining_bytes: '100', blob: Buffer.alloc(10) })));
    setTimeout(() => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 20);
  },
  goaway: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    s.write(frame(encode({ remaining_bytes: '100', blob: Buffer.alloc(10) })));
    setTimeout(
      () => s.session?.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from('calm')),
      20,
    );
  },
  ok: (s, h) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(encode({ remaining_bytes: '0', blob: Buffer.from(`token=${String(h['token'])}`) })));
  },
  denied: (s) => {
    s.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': '7',
        'grpc-message': 'etcdserver%3A permission denied',
      },
      { endStream: true },
    );
  },
  cut: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(encode({ remaining_bytes: '0', blob: Buffer.alloc(5000, 1) })).subarray(0, 3000));
  },
  'no-status': (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    s.end(frame(encode({ remaining_bytes: '0', blob: Buffer.from('x') })));
  },
  'not-grpc': (s) => {
    s.respond({ ':status': 404, 'content-type': 'text/html' });
    s.end('<html>nope</html>');
  },
  reset: (s) => {
    s.on('error', () => undefined);
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    s.write(frame(encode({ remaining_bytes: '100', blob: Buffer.alloc(10) })));
    setTimeout(() => s.session?.destroy(), 20); // the connection drops mid-response
  },
};

function run(address: string, token?: string) {
  return new Promise<{ blobs: string; error?: SnapshotCallError }>((resolve) => {
    const call = startSnapshotCall({ address, secure: false, token, dialTimeoutMs: 2000 });
    let blobs = '';
    call.on('blob', (b) => (blobs += b.toString()));
    call.on('error', (error) => resolve({ blobs, error }));
    call.on('end', () => resolve({ blobs }));
  });
}

/** The call's pieces, copied (they are views of a reused read buffer), read with pauses along the way. */
function runBig(address: string) {
  return new Promise<{ bytes: Buffer; error?: SnapshotCallError; pauses: number }>((resolve) => {
    const call = startSnapshotCall({ address, secure: false, dialTimeoutMs: 2000, windowBytes: 64 << 10 });
    const pieces: Buffer[] = [];
    let received = 0;
    let pauses = 0;
    call.on('blob', (b) => {
      pieces.push(Buffer.from(b));
      received += b.length;
      if (received > (pauses + 1) * (256 << 10)) {
        pauses++;
        call.pause();
        setTimeout(() => call.resume(), 20);
      }
    });
    const bytes = () => Buffer.concat(pieces);
    call.on('error', (error) => resolve({ bytes: bytes(), error, pauses }));
    call.on('end', () => resolve({ bytes: bytes(), pauses }));
  });
}

describe('snapshot call over HTTP/2, against a server that misbehaves', () => {
  // one small HTTP/2 server per behaviour
  const servers: http2.Http2Server[] = [];
  const addressFor: Record<string, string> = {};
  beforeAll(async () => {
    for (const [name, behave] of Object.entries(behaviours)) {
      // every frame padded: the client must strip it (and count it for flow control)
      const s = http2.createServer({ paddingStrategy: http2.constants.PADDING_STRATEGY_MAX });
      s.on('stream', (stream, headers) => behave(stream, headers));
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      servers.push(s);
      addressFor[name] = `127.0.0.1:${(s.address() as AddressInfo).port}`;
    }
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('receives the blob and sends the auth token as the `token` header', async () => {
    expect(await run(addressFor.ok!, 'tok123')).toEqual({ blobs: 'token=tok123' });
  });

  it('reports a status sent without a body (trailers only) with its code and decoded message', async () => {
    const r = await run(addressFor.denied!);
    expect(r.error).toMatchObject({ code: 7, details: 'etcdserver: permission denied' });
  });

  it('reports a body cut inside a message, a missing status, a non-gRPC answer and a dropped connection', async () => {
    expect((await run(addressFor.cut!)).error).toMatchObject({
      code: 13,
      details: expect.stringMatching(/inside a message/),
    });
    expect((await run(addressFor['no-status']!)).error).toMatchObject({
      code: 2,
      details: expect.stringMatching(/without a gRPC status/),
    });
    expect((await run(addressFor['not-grpc']!)).error).toMatchObject({
      code: 14,
      details: expect.stringMatching(/HTTP 404/),
    });
    expect((await run(addressFor.reset!)).error).toMatchObject({
      code: 14,
      details: expect.stringMatching(/connection was lost/),
    });
  });

  it('reads padded frames past its window in order, through pauses, a PING, new SETTINGS and CONTINUATION trailers', async () => {
    const r = await runBig(addressFor.big!);
    expect(r.error).toBeUndefined();
    expect(r.pauses).toBeGreaterThan(2);
    expect(r.bytes.equals(Buffer.concat(Array.from({ length: BIG_MESSAGES }, (_, i) => bigBlob(i))))).toBe(
      true,
    );
  });

  it('reports a reset stream and a GOAWAY with their HTTP/2 codes', async () => {
    expect((await run(addressFor.rst!)).error).toMatchObject({
      code: 14,
      details: expect.stringMatching(/reset .*INTERNAL_ERROR/),
    });
    expect((await run(addressFor.goaway!)).error).toMatchObject({
      code: 14,
      details: expect.stringMatching(/GOAWAY \(HTTP\/2 code 11 ENHANCE_YOUR_CALM\): calm/),
    });
  });

  it('connects to an IPv6 endpoint ([::1]:port) and sends its authority in brackets', async () => {
    const s = http2.createServer();
    let authority = '';
    s.on('stream', (stream, headers) => {
      authority = String(headers[':authority']);
      behaviours.ok!(stream, headers);
    });
    await new Promise<void>((resolve) => s.listen(0, '::1', resolve));
    try {
      const address = `[::1]:${(s.address() as AddressInfo).port}`;
      expect(await run(address, 't6')).toEqual({ blobs: 'token=t6' });
      expect(authority).toBe(address);
    } finally {
      s.close();
    }
  });

  it('reports a refused connection as UNAVAILABLE with the reason', async () => {
    const port = await freePort();
    expect((await run(`127.0.0.1:${port}`)).error).toMatchObject({
      code: 14,
      details: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
