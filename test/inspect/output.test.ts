import { describe, expect, test } from 'vitest';
import { bytesCell, keyFields, keyFromFields, showBytes, valueDigest } from '../../src/inspect/bytes-text.js';
import { JsonArrayStream, OutputClosedError, TextOut, type TextSink } from '../../src/inspect/json-stream.js';

/** A sink that says "full" after `capacity` chunks until drained, like a pipe. */
class FakeSink implements TextSink {
  chunks: string[] = [];
  private drainers: (() => void)[] = [];
  private errorHandler?: (err: NodeJS.ErrnoException) => void;
  constructor(private capacity = Infinity) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return this.chunks.length < this.capacity;
  }
  once(_e: 'drain', l: () => void) {
    this.drainers.push(l);
    return this;
  }
  on(_e: 'error', l: (err: NodeJS.ErrnoException) => void) {
    this.errorHandler = l;
    return this;
  }
  drain() {
    this.capacity = Infinity;
    for (const d of this.drainers.splice(0)) d();
  }
  epipe() {
    this.errorHandler?.(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  }
  get text() {
    return this.chunks.join('');
  }
}

describe('streamed JSON', () => {
  test('one parseable document with the array in the middle and bigints as strings', async () => {
    const sink = new FakeSink();
    const out = new TextOut(sink);
    const j = new JsonArrayStream(out);
    j.begin({ kind: 'x', rev: 5n }, 'items');
    for (let i = 0; i < 5000; i++) j.item({ i, big: 2n ** 64n - 1n });
    j.end({ ok: true, count: 5000 });
    await out.flush();
    const doc = JSON.parse(sink.text);
    expect(doc.kind).toBe('x');
    expect(doc.rev).toBe('5');
    expect(doc.items).toHaveLength(5000);
    expect(doc.items[4999]).toEqual({ i: 4999, big: '18446744073709551615' });
    expect(doc.count).toBe(5000);
    // it was written in several chunks, not as one string at the end
    expect(sink.chunks.length).toBeGreaterThan(1);
  });

  test('an empty array and empty head still parse', async () => {
    const sink = new FakeSink();
    const out = new TextOut(sink);
    const j = new JsonArrayStream(out);
    j.begin({}, 'kvs');
    j.end({});
    await out.flush();
    expect(JSON.parse(sink.text)).toEqual({ kvs: [] });
  });

  test('flush waits for the sink to drain, and ends with OutputClosedError on EPIPE', async () => {
    const sink = new FakeSink(1);
    const out = new TextOut(sink);
    out.write('x'.repeat(70_000));
    let done = false;
    const p = out.flush().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    sink.drain();
    await p;
    expect(done).toBe(true);

    const sink2 = new FakeSink(1);
    const out2 = new TextOut(sink2);
    out2.write('y'.repeat(70_000));
    const p2 = out2.flush();
    sink2.epipe();
    await expect(p2).rejects.toBeInstanceOf(OutputClosedError);
    out2.write('more');
    expect(sink2.chunks).toHaveLength(1);
  });
});

describe('shown bytes', () => {
  test('text when printable UTF-8, base64 otherwise, round-trips', () => {
    for (const b of [
      Buffer.from('/registry/pods/a'),
      Buffer.from('ключ/é'),
      Buffer.from([0xff, 0x00, 0x61]),
      Buffer.from('a\u0001b'),
      Buffer.alloc(0),
    ]) {
      expect(keyFromFields(keyFields(b))).toEqual(b);
    }
    expect(keyFields(Buffer.from([0xff]))).toEqual({ key: '/w==', keyEncoding: 'base64' });
    expect(keyFields(Buffer.from('k'))).toEqual({ key: 'k' });
  });

  test('truncation keeps whole characters and says how long the value was', () => {
    const s = showBytes(Buffer.from('ééé'), 3); // 6 bytes, cut inside the second é
    expect(s).toEqual({ text: 'é', encoding: 'utf8', truncatedFrom: 6 });
    expect(bytesCell(Buffer.from('abcdef'), 3)).toBe('abc… (6 bytes)');
    expect(bytesCell(Buffer.from([0, 1]))).toBe('base64:AAE=');
    expect(valueDigest(Buffer.from('abc'))).toBe('ba7816bf8f01cfea');
  });
});
