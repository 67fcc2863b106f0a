// The upload in parts that s3:// and azblob:// share, against a sink that records what it is handed.
// The backends' own suites (conformance, s3-faults, azure-faults) run it against s3rver and Azurite.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PartUploadFailed, uploadInParts, type PartSink } from '../../src/storage/part-upload.js';

const PART = 64 * 1024;

function recordingSink(delayMs = 2, failAt?: number) {
  const stored = new Map<number, Buffer>();
  const backing = new Set<ArrayBufferLike>();
  let inflight = 0;
  let maxInflight = 0;
  const log: string[] = [];
  const sink: PartSink = {
    async part(index, data, signal) {
      backing.add(data.buffer);
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      try {
        await sleep(delayMs * (1 + (index % 3)), undefined, { signal });
        if (index === failAt) throw new Error(`part ${index} refused`);
        stored.set(index, Buffer.from(data)); // a copy: the pool reuses data afterwards
      } finally {
        inflight--;
      }
    },
    async whole(data) {
      log.push(`whole ${data.length}`);
      stored.set(0, Buffer.from(data));
    },
    async commit(parts) {
      log.push(`commit ${parts}`);
    },
  };
  const joined = (): Buffer =>
    Buffer.concat([...stored.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  return { sink, stored, backing, log, joined, max: () => maxInflight };
}

/** a body in uneven chunks, so parts are assembled across chunk boundaries */
function bodyOf(data: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7 + 13) % 50_000 || 1) {
    chunks.push(data.subarray(off, Math.min(data.length, off + n)));
  }
  return Readable.from(chunks);
}

const opts = { partSize: PART, queueSize: 2, maxParts: 1000, tooManyParts: () => new Error('too many') };

describe('uploadInParts', () => {
  it('stores the body byte for byte in parts, from queueSize + 1 reused buffers, queueSize in flight', async () => {
    const data = randomBytes(PART * 20 + 123);
    const r = recordingSink();
    const progress: number[] = [];
    const { size } = await uploadInParts(bodyOf(data), r.sink, {
      ...opts,
      onProgress: (n) => progress.push(n),
    });
    expect(size).toBe(data.length);
    expect(r.joined().equals(data)).toBe(true);
    expect(r.stored.size).toBe(21);
    expect(r.log).toEqual(['commit 21']);
    // the memory bound: 21 parts went through at most 3 distinct part buffers, never more than 2 at once
    expect(r.backing.size).toBeLessThanOrEqual(3);
    expect(r.max()).toBe(2);
    expect(progress.at(-1)).toBe(data.length);
  });

  it('sends a body smaller than one part in one request (the commit point), and an empty one too', async () => {
    const r = recordingSink();
    await uploadInParts(Readable.from([Buffer.from('hello')]), r.sink, opts);
    expect(r.log).toEqual(['whole 5']);
    const e = recordingSink();
    await uploadInParts(Readable.from([]), e.sink, opts);
    expect(e.log).toEqual(['whole 0']);
  });

  it('a failed part stops the upload before its commit, reports that part, and stops reading the body', async () => {
    const r = recordingSink(2, 3);
    let produced = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 400; i++) {
          produced++;
          yield Buffer.alloc(PART / 2, i);
        }
      })(),
    );
    const err = await uploadInParts(body, r.sink, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartUploadFailed);
    const f = err as PartUploadFailed;
    expect(f.source).toBe('request');
    expect(String(f.firstCause)).toContain('part 3 refused');
    expect(f.commitSent).toBe(false);
    expect(r.log).toEqual([]);
    expect(produced).toBeLessThan(400);
    expect(body.destroyed).toBe(true);
  });

  it("the body's own error wins over the knock-on failures it causes", async () => {
    const r = recordingSink();
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(PART * 3));
    setTimeout(() => body.destroy(new Error('etcd went away')), 20);
    const f = (await uploadInParts(body, r.sink, opts).catch((e: unknown) => e)) as PartUploadFailed;
    expect(f.source).toBe('body');
    expect(String(f.firstCause)).toContain('etcd went away');
    expect(r.log).toEqual([]);
  });

  it("the operator's cancellation cuts the parts in flight and is reported as such", async () => {
    const r = recordingSink(200);
    const ac = new AbortController();
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(PART * 4));
    setTimeout(() => ac.abort(new Error('SIGTERM')), 30);
    const f = (await uploadInParts(body, r.sink, { ...opts, signal: ac.signal }).catch(
      (e: unknown) => e,
    )) as PartUploadFailed;
    expect(f.source).toBe('cancelled');
    expect(f.partsStarted).toBeGreaterThan(0);
    expect(r.stored.size).toBe(0);
    expect(r.log).toEqual([]);
  });

  it("refuses more parts than the service takes, with the caller's error", async () => {
    const r = recordingSink(0);
    const f = (await uploadInParts(bodyOf(randomBytes(PART * 5)), r.sink, {
      ...opts,
      maxParts: 3,
      tooManyParts: () => new Error('more than 3 parts; raise partSizeMiB'),
    }).catch((e: unknown) => e)) as PartUploadFailed;
    expect(f.source).toBe('request');
    expect(String(f.firstCause)).toContain('raise partSizeMiB');
    expect(r.log).toEqual([]);
  });
});
