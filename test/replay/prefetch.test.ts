/** The replay's read-ahead: order kept, bounded, a failure of the source passed on, an early stop ends the source. */
import { describe, expect, it } from 'vitest';
import { prefetch } from '../../src/replay/prefetch.js';
import type { RevisionRecord } from '../../src/revlog/segment-format.js';

const rec = (r: number): RevisionRecord => ({ revision: BigInt(r), receivedAt: 0, events: [] });

describe('prefetch', () => {
  it('yields every record in order, reading at most maxRecords ahead', async () => {
    let read = 0;
    let ahead = 0;
    let consumed = 0;
    async function* source() {
      for (let i = 1; i <= 50; i++) {
        read++;
        ahead = Math.max(ahead, read - consumed);
        yield rec(i);
      }
    }
    const out: bigint[] = [];
    for await (const r of prefetch(source(), { maxRecords: 4 })) {
      consumed++;
      out.push(r.revision);
      await new Promise((res) => setTimeout(res, 1));
    }
    expect(out).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    // the queue (4) plus the record being handed over
    expect(ahead).toBeLessThanOrEqual(6);
  });

  it("passes the source's failure on after the records before it", async () => {
    async function* source() {
      yield rec(1);
      yield rec(2);
      throw new Error('segment damaged');
    }
    const out: bigint[] = [];
    await expect(
      (async () => {
        for await (const r of prefetch(source())) out.push(r.revision);
      })(),
    ).rejects.toThrow('segment damaged');
    expect(out).toEqual([1n, 2n]);
  });

  it('a consumer that stops early ends the source (its finally runs)', async () => {
    let closed = false;
    async function* source() {
      try {
        for (let i = 1; ; i++) yield rec(i);
      } finally {
        closed = true;
      }
    }
    for await (const r of prefetch(source(), { maxRecords: 8 })) if (r.revision === 3n) break;
    expect(closed).toBe(true);
  });
});
