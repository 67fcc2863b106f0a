/**
 * Edges of the snapshot call (gRPC over Node's HTTP/2 client) that a real etcd does not produce on demand
 * (padding, PING, CONTINUATION, flow control past the window with pauses, RST_STREAM, GOAWAY, a
 * malformed or cut-off response, a non-gRPC answer, TLS by IP and by host name), against small HTTP/2
 * servers started here. The real paths (TLS, mTLS, auth, permission denied, a member killed mid-stream,
 * backpressure) are tested against etcd in client.test.ts, tls.test.ts, snapshot-mtls.test.ts,
 * auth.test.ts and snapshot-fault.test.ts.
 */
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdServices } from '../../src/etcd/grpc-services.js';
import { startSnapshotCall, type SnapshotCallError } from '../../src/etcd/snapshot-call.js';
import { readTlsMaterial } from '../../src/etcd/tls-credentials.js';
import type { TlsFiles } from '../../src/etcd/types.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
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
const FLOOD_MESSAGES = 256;
/** bytes the flood server has handed to its connection so far */
let flushed = 0;
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
  // a graceful shutdown that keeps our stream: the response still finishes
  graceful: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, s.id);
    setTimeout(() => s.end(frame(encode({ remaining_bytes: '0', blob: Buffer.from('after goaway') }))), 20);
  },
  // 8 MiB as fast as the client's window allows, counting what has left the server (write callbacks)
  flood: (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.on('error', () => undefined);
    flushed = 0;
    let i = 0;
    const next = () => {
      if (i === FLOOD_MESSAGES) return s.end();
      const left = String((FLOOD_MESSAGES - i - 1) * (32 << 10));
      const msg = frame(encode({ remaining_bytes: left, blob: bigBlob(i++ % 256) }));
      const more = s.write(msg, () => (flushed += msg.length));
      if (more) setImmediate(next);
      else s.once('drain', next);
    };
    next();
  },
  ok: (s, h) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    // the token arrives marked never-indexed (HPACK), so no proxy or table keeps it
    const sensitive = (h as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? [];
    const token = `token=${String(h['token'])}${sensitive.includes('token') ? ' (sensitive)' : ''}`;
    s.end(frame(encode({ remaining_bytes: '0', blob: Buffer.from(token) })));
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

function run(address: string, token?: string, tls?: TlsFiles) {
  return new Promise<{ blobs: string; error?: SnapshotCallError }>((resolve) => {
    const call = startSnapshotCall({
      address,
      secure: tls !== undefined,
      tls: tls && readTlsMaterial(tls),
      token,
      dialTimeoutMs: 2000,
    });
    let blobs = '';
    call.on('blob', (b) => (blobs += b.toString()));
    call.on('error', (error) => resolve({ blobs, error }));
    call.on('end', () => resolve({ blobs }));
  });
}

/** The call's pieces, copied (they are views of the received chunks), read with pauses along the way. */
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

  it('receives the blob and sends the auth token as a sensitive `token` header', async () => {
    expect(await run(addressFor.ok!, 'tok123')).toEqual({ blobs: 'token=tok123 (sensitive)' });
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

  it('holds the server at the flow-control window while paused, and reads the rest on resume', async () => {
    const window = 256 << 10;
    const r = await new Promise<{ bytes: number; error?: SnapshotCallError; flushedWhilePaused: number }>(
      (resolve) => {
        const call = startSnapshotCall({
          address: addressFor.flood!,
          secure: false,
          dialTimeoutMs: 2000,
          windowBytes: window,
        });
        let bytes = 0;
        let flushedWhilePaused = -1;
        call.on('blob', (b) => {
          bytes += b.length;
          if (flushedWhilePaused < 0 && bytes >= 64 << 10) {
            flushedWhilePaused = 0;
            call.pause();
            setTimeout(() => {
              flushedWhilePaused = flushed;
              call.resume();
            }, 300);
          }
        });
        call.on('error', (error) => resolve({ bytes, error, flushedWhilePaused }));
        call.on('end', () => resolve({ bytes, flushedWhilePaused }));
      },
    );
    expect(r.error).toBeUndefined();
    expect(r.bytes).toBe(FLOOD_MESSAGES * (32 << 10));
    // what we read before pausing, the window, and the server's own buffering: far from the 8 MiB
    expect(r.flushedWhilePaused).toBeGreaterThan(64 << 10);
    expect(r.flushedWhilePaused).toBeLessThan(1024 * 1024);
  });

  it('finishes a response after a graceful GOAWAY that keeps its stream', async () => {
    expect(await run(addressFor.graceful!)).toEqual({ blobs: 'after goaway' });
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
      expect(await run(address, 't6')).toEqual({ blobs: 'token=t6 (sensitive)' });
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

describe('snapshot call over TLS, against an HTTP/2 server that requires client certificates', () => {
  let certs: TestCerts;
  let server: http2.Http2SecureServer;
  let address = '';
  beforeAll(async () => {
    certs = await makeTestCerts();
    server = http2.createSecureServer({
      ca: readFileSync(certs.caFile),
      cert: readFileSync(certs.serverCertFile),
      key: readFileSync(certs.serverKeyFile),
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on('stream', (stream, headers) => behaviours.ok!(stream, headers));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.close();
    await certs?.cleanup();
  });

  it('streams with the CA and client certificate, by IP address and by host name', async () => {
    const tls = { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
    expect(await run(address, 'tt', tls)).toEqual({ blobs: 'token=tt (sensitive)' });
    // the host name is the TLS server name, checked against the certificate's DNS names
    const byName = address.replace('127.0.0.1', 'localhost');
    expect(await run(byName, 'tn', tls)).toEqual({ blobs: 'token=tn (sensitive)' });
  });
});
