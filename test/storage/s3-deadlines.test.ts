/**
 * s3:// faults injected between the backend and a real s3rver by a proxy on loopback
 * (test/helpers/fault-proxy.ts): a request accepted and never answered, a connection reset, a 403 on
 * the parts of a multipart upload, a download dropped in the middle, a server without
 * ListMultipartUploads, and cancellation of each kind of request while it hangs.
 *
 * What must hold: every operation ends (the test's own timeout is the bound; timeouts in the URLs are
 * short so that it ends well within it), with the first real cause as its code (never ABORTED unless the
 * caller cancelled), nothing visible, and the multipart upload it created asked to be aborted. s3rver
 * implements no AbortMultipartUpload, so "nothing left behind" on its side is shown by the abort request
 * the proxy saw for exactly that upload id.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import type { Backend } from '../../src/storage/backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { storageErrorOf } from '../../src/storage/stream-errors.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { randomBody } from './conformance.js';

const MiB = 1024 * 1024;

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrError);
  return err as DrError;
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

describe('s3:// deadlines, cancellation and error causes through a fault-injecting proxy', () => {
  let s3: S3rverHandle;
  let proxy: FaultProxy;
  const open: Backend[] = [];

  /** A backend talking to s3rver through the proxy; short deadlines unless overridden. */
  async function backend(
    prefix: string,
    params: Record<string, string> = {},
    retry: { attempts: number } = { attempts: 1 },
  ): Promise<Backend> {
    const url = s3.url(prefix, {
      // short, yet long enough for s3rver's real answers on a loaded 2-core machine
      socketTimeoutMs: '2000',
      requestTimeoutMs: '4000',
      connectTimeoutMs: '1000',
      maxAttempts: '1',
      ...params,
    });
    const b = await openBackend(
      url.replace(encodeURIComponent(s3.endpoint), encodeURIComponent(proxy.endpoint)),
      {
        retry: { ...retry, baseDelayMs: 1, maxDelayMs: 2 },
      },
    );
    open.push(b);
    return b;
  }

  beforeAll(async () => {
    s3 = await startS3rver('faults');
    proxy = await startFaultProxy(s3.endpoint);
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.requests.length = 0;
  });
  afterAll(async () => {
    await Promise.all(open.map((b) => b.close()));
    await proxy?.close();
    await s3?.stop();
  });

  it('a listing accepted and never answered fails on the inactivity deadline: STORAGE_UNREACHABLE, retried a bounded number of times, nothing on the console', async () => {
    const warn = vi.spyOn(console, 'warn');
    proxy.fault({ op: 'ListObjectsV2', fault: { kind: 'stall' } });
    const b = await backend('stall-list/', {}, { attempts: 2 });
    const err = await failure(drain(b.list('')));
    expect(err.code).toBe('STORAGE_UNREACHABLE');
    expect(err.details.transient).toBe(true);
    expect(err.message).toContain('no answer in time');
    expect(err.message).toContain('gave up after 2 attempts');
    expect(proxy.requests.filter((r) => r.op === 'ListObjectsV2' && r.outcome === 'stall')).toHaveLength(2);
    // the SDK's handler used to print a plain-text warning into the JSON log
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  }, 20_000);

  it('a connection the server never accepts fails on the connect deadline (connectTimeoutMs): STORAGE_UNREACHABLE', async () => {
    // a listener with a full accept queue that never accepts: the kernel drops further SYNs, so a connect
    // hangs as it does towards a firewalled endpoint (Node accepts every connection itself, so python does it)
    const hole = spawn(
      'python3',
      [
        '-c',
        'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const port = Number(
        await new Promise<string>((resolve) =>
          hole.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
        ),
      );
      // fill the accept queue: these complete the handshake in the kernel and wait there
      for (let i = 0; i < 3; i++) {
        const c = connect(port, '127.0.0.1');
        c.on('error', () => undefined);
        fillers.push(c);
      }
      await new Promise((r) => setTimeout(r, 200));
      const url = s3.url('hole/', {
        connectTimeoutMs: '1000',
        socketTimeoutMs: '60000',
        requestTimeoutMs: '60000',
        maxAttempts: '1',
      });
      const b = await openBackend(
        url.replace(encodeURIComponent(s3.endpoint), encodeURIComponent(`http://127.0.0.1:${port}`)),
        {
          retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 },
        },
      );
      open.push(b);
      const err = await failure(drain(b.list('')));
      expect(err.code).toBe('STORAGE_UNREACHABLE');
      expect(err.details.transient).toBe(true);
      // the connect deadline, not the (60 s) inactivity or answer deadlines, ended it
      expect(err.message).toMatch(
        /did not establish a connection with the server within the configured timeout of 1000 ms/,
      );
    } finally {
      for (const c of fillers) c.destroy();
      hole.kill();
    }
  }, 20_000);

  it('the answer deadline (requestTimeoutMs) holds even with a long inactivity timeout', async () => {
    proxy.fault({ op: 'HeadObject', fault: { kind: 'stall' } });
    const b = await backend('stall-head/', { socketTimeoutMs: '600000', requestTimeoutMs: '1000' });
    const err = await failure(b.stat('x'));
    expect(err.code).toBe('STORAGE_UNREACHABLE');
    expect(err.message).toContain('requestTimeout');
  }, 20_000);

  it('a stalled part upload fails on its deadline with its own cause; nothing visible; its upload aborted', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'stall' } });
    const b = await backend('stall-part/');
    const err = await failure(b.put('big', randomBody(40 * MiB).stream));
    expect(err.code).toBe('STORAGE_UNREACHABLE');
    expect(err.code).not.toBe('ABORTED');
    const created = proxy.requests.find((r) => r.op === 'CreateMultipartUpload');
    expect(created).toBeDefined();
    const stalled = proxy.requests.find((r) => r.op === 'UploadPart' && r.outcome === 'stall')!;
    const uploadId = stalled.query.get('uploadId');
    expect(
      proxy.requests.some((r) => r.op === 'AbortMultipartUpload' && r.query.get('uploadId') === uploadId),
    ).toBe(true);
    expect(proxy.requests.some((r) => r.op === 'CompleteMultipartUpload')).toBe(false);
    await expect(b.stat('big')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
  }, 30_000);

  it('a connection reset on every part: STORAGE_FAILED after the SDK retried, not ABORTED; nothing visible', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'reset' } });
    const b = await backend('reset-part/', { maxAttempts: '2' });
    const err = await failure(b.put('big', randomBody(40 * MiB).stream));
    expect(['STORAGE_FAILED', 'STORAGE_UNREACHABLE']).toContain(err.code);
    expect(err.message).toContain('ECONNRESET');
    const resets = proxy.requests.filter((r) => r.op === 'UploadPart' && r.outcome === 'reset');
    // the SDK sent the part again (maxAttempts=2) before giving up
    const byPart = new Map<string, number>();
    for (const r of resets)
      byPart.set(r.query.get('partNumber')!, (byPart.get(r.query.get('partNumber')!) ?? 0) + 1);
    expect(Math.max(...byPart.values())).toBe(2);
    const uploadId = resets[0]!.query.get('uploadId');
    expect(
      proxy.requests.some((r) => r.op === 'AbortMultipartUpload' && r.query.get('uploadId') === uploadId),
    ).toBe(true);
    await expect(b.stat('big')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
  }, 30_000);

  it('a 403 on the parts: STORAGE_ACCESS_DENIED (the first real cause), no part sent twice; nothing visible', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'status', status: 403, code: 'AccessDenied' } });
    const b = await backend('denied-part/', { maxAttempts: '3' }, { attempts: 4 });
    const err = await failure(b.put('big', randomBody(60 * MiB).stream));
    expect(err.code).toBe('STORAGE_ACCESS_DENIED');
    expect(err.details.s3Code).toBe('AccessDenied');
    expect(err.message).toContain('"denied-part/big"');
    const denied = proxy.requests.filter((r) => r.op === 'UploadPart');
    const parts = denied.map((r) => r.query.get('partNumber'));
    expect(new Set(parts).size).toBe(parts.length); // a 403 is not retried
    expect(parts.length).toBeLessThanOrEqual(2); // queueSize 2: the body stopped being read
    const uploadId = denied[0]!.query.get('uploadId');
    expect(
      proxy.requests.some((r) => r.op === 'AbortMultipartUpload' && r.query.get('uploadId') === uploadId),
    ).toBe(true);
    await expect(b.stat('big')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
  }, 30_000);

  it('the caller cancelling a put whose part hangs ends it at once: ABORTED, nothing visible, upload aborted', async () => {
    proxy.fault({ op: 'UploadPart', fault: { kind: 'stall' } });
    // deadlines far beyond the test's timeout: only the signal can end the put in time
    const b = await backend('cancel-part/', { socketTimeoutMs: '600000', requestTimeoutMs: '600000' });
    const ctl = new AbortController();
    const put = failure(b.put('big', randomBody(40 * MiB).stream, { signal: ctl.signal }));
    const stalled = await proxy.waitFor('UploadPart', 'stall');
    ctl.abort(new Error('SIGTERM'));
    const err = await put;
    expect(err.code).toBe('ABORTED');
    expect(
      proxy.requests.some(
        (r) => r.op === 'AbortMultipartUpload' && r.query.get('uploadId') === stalled.query.get('uploadId'),
      ),
    ).toBe(true);
    await expect(b.stat('big')).rejects.toMatchObject({ code: 'STORAGE_NOT_FOUND' });
  }, 20_000);

  it('cancelling a hanging list, stat, get, remove or check ends it at once with ABORTED', async () => {
    const b = await backend('cancel-ops/', { socketTimeoutMs: '600000', requestTimeoutMs: '600000' });
    await b.put('obj', Readable.from([Buffer.from('x')]));
    proxy.fault({ match: () => true, fault: { kind: 'stall' } });
    const ops: [string, (signal: AbortSignal) => Promise<unknown>][] = [
      ['list', (signal) => drain(b.list('', { signal }))],
      ['stat', (signal) => b.stat('obj', { signal })],
      ['get', (signal) => b.get('obj', { signal })],
      ['remove', (signal) => b.remove('obj', { signal })],
      ['check', (signal) => b.check({ signal })],
      ['cleanupIncomplete', (signal) => b.cleanupIncomplete('', 0, { signal })],
    ];
    for (const [name, op] of ops) {
      const ctl = new AbortController();
      const before = proxy.requests.length;
      const p = failure(op(ctl.signal));
      while (proxy.requests.length === before) await new Promise((r) => setTimeout(r, 20));
      ctl.abort(new Error('SIGTERM'));
      const err = await p;
      expect(err.code, name).toBe('ABORTED');
    }
  }, 30_000);

  it('a download dropped in the middle is a storage error of the stream (transient), not bad content', async () => {
    const b = await backend('cut-get/');
    const body = randomBody(3 * MiB);
    await b.put('obj', body.stream);
    proxy.fault({ op: 'GetObject', fault: { kind: 'cut', afterBytes: MiB } });
    const stream = await b.get('obj');
    let got = 0;
    const err = await pipeline(
      stream,
      new Writable({
        write(c: Buffer, _e, cb) {
          got += c.length;
          cb();
        },
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(got).toBeLessThan(3 * MiB);
    const stored = storageErrorOf(err);
    expect(stored?.code).toBe('STORAGE_FAILED');
    expect(stored?.details.transient).toBe(true);
    expect(stored?.message).toContain('"cut-get/obj"');
  }, 20_000);

  it('a server without ListMultipartUploads (s3rver: 501) has no incomplete uploads: 0, one request, no retry', async () => {
    const b = await backend('no-mpu-list/', {}, { attempts: 4 });
    expect(await b.cleanupIncomplete('', 0)).toBe(0);
    expect(proxy.requests.filter((r) => r.op === 'ListMultipartUploads')).toHaveLength(1);
  }, 20_000);
});
