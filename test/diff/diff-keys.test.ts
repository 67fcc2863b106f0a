import { describe, expect, test } from 'vitest';
import { diffKeys, type KeyChange } from '../../src/diff/diff-keys.js';
import type { KeyValue } from '../../src/formats/mvcc/key-value.js';

const kv = (key: string | Buffer, value: string, mod = 1n, lease = 0n): KeyValue => ({
  key: Buffer.isBuffer(key) ? key : Buffer.from(key),
  value: Buffer.from(value),
  createRevision: 1n,
  modRevision: mod,
  version: 1n,
  lease,
});

function run(a: KeyValue[], b: KeyValue[]) {
  const changes: KeyChange[] = [];
  const summary = diffKeys(a, b, (c) => changes.push(c));
  return { summary, changes: changes.map((c) => `${c.kind} ${c.key.toString('latin1')}`) };
}

describe('diffKeys (merge join)', () => {
  test('added, removed, changed (value or lease), rewritten and unchanged', () => {
    const a = [kv('a', '1'), kv('b', '2'), kv('c', '3', 5n), kv('d', '4', 6n), kv('e', '5', 7n, 0n)];
    const b = [kv('b', '2x', 9n), kv('c', '3', 5n), kv('d', '4', 8n), kv('e', '5', 7n, 42n), kv('f', '6')];
    const { summary, changes } = run(a, b);
    expect(changes).toEqual(['removed a', 'changed b', 'changed e', 'added f']);
    expect(summary).toEqual({
      added: 1,
      removed: 1,
      changed: 2,
      rewritten: 1,
      unchanged: 1,
      keysA: 5,
      keysB: 5,
      equal: false,
    });
  });

  test('identical and empty sides are equal; one empty side is all added / removed', () => {
    const a = [kv('x', '1'), kv('y', '2')];
    expect(run(a, a).summary.equal).toBe(true);
    expect(run(a, a).changes).toEqual([]);
    expect(run([], []).summary.equal).toBe(true);
    expect(run([], a).changes).toEqual(['added x', 'added y']);
    expect(run(a, []).changes).toEqual(['removed x', 'removed y']);
  });

  test('orders by bytes, not by UTF-16 strings, and refuses unsorted input', () => {
    const hi = Buffer.from([0xef, 0xbf, 0xbf]);
    const a = [kv('a', '1'), kv(Buffer.from([0xc3, 0xa9]), '2'), kv(hi, '3')];
    const b = [kv('a', '1'), kv(hi, '3')];
    expect(run(a, b).changes).toEqual([`removed ${Buffer.from([0xc3, 0xa9]).toString('latin1')}`]);
    expect(() => run([kv('b', '1'), kv('a', '1')], [])).toThrow(/ascending/);
  });

  test('reads lazily: only one key-value per side is pulled ahead', () => {
    let pulled = 0;
    function* gen(n: number) {
      for (let i = 0; i < n; i++) {
        pulled++;
        yield kv(`k${String(i).padStart(6, '0')}`, 'v');
      }
    }
    let maxAhead = 0;
    let seen = 0;
    diffKeys(gen(10_000), [], () => {
      seen++;
      maxAhead = Math.max(maxAhead, pulled - seen);
    });
    expect(seen).toBe(10_000);
    expect(maxAhead).toBeLessThanOrEqual(1);
  });
});
