/**
 * Reads records ahead of the replay, so that segments are fetched, decrypted, decompressed and decoded
 * while the replay waits for etcd's answer to the previous transaction (the replay is bound by that
 * round trip, and Node is otherwise idle during it). Bounded: at most `maxRecords` records or `maxBytes`
 * of keys and values wait (one record more than the bytes bound when a single record is larger), so
 * memory stays flat whatever the log's size.
 */
import type { RevisionRecord } from '../revlog/segment-format.js';

const recordBytes = (r: RevisionRecord) =>
  r.events.reduce((n, e) => n + e.key.length + e.value.length + 64, 64);

export async function* prefetch(
  source: AsyncIterable<RevisionRecord>,
  o: { maxRecords?: number; maxBytes?: number } = {},
): AsyncGenerator<RevisionRecord> {
  const maxRecords = o.maxRecords ?? 4096;
  const maxBytes = o.maxBytes ?? 16 << 20;
  const queue: RevisionRecord[] = [];
  let bytes = 0;
  let done = false;
  let failure: { err: unknown } | null = null;
  // holders: each side sets its wake-up, the other calls it
  const wake: { reader: (() => void) | null; consumer: (() => void) | null } = {
    reader: null,
    consumer: null,
  };
  const it = source[Symbol.asyncIterator]();
  let stopped = false;
  const reader = (async () => {
    try {
      for (;;) {
        while (!stopped && (queue.length >= maxRecords || bytes >= maxBytes))
          await new Promise<void>((r) => (wake.reader = r));
        wake.reader = null;
        if (stopped) break;
        const n = await it.next();
        if (n.done) break;
        queue.push(n.value);
        bytes += recordBytes(n.value);
        wake.consumer?.();
      }
    } catch (err) {
      failure = { err };
    } finally {
      done = true;
      wake.consumer?.();
    }
  })();
  try {
    for (;;) {
      if (queue.length > 0) {
        const r = queue.shift()!;
        bytes -= recordBytes(r);
        wake.reader?.();
        yield r;
        continue;
      }
      if (failure) throw (failure as { err: unknown }).err;
      if (done) return;
      await new Promise<void>((r) => (wake.consumer = r));
      wake.consumer = null;
    }
  } finally {
    // a consumer that stops early (a failure, the revision reached) ends the reading too
    stopped = true;
    wake.reader?.();
    await reader;
    await it.return?.(undefined);
  }
}
