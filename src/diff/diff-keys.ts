/**
 * A merge join of two key-value streams sorted by key (bytes, as keysAt yields them). Holds one key-value
 * per side: the streams can be as large as the dbs. Refuses input that is not strictly ascending, since a
 * merge join over unsorted input would report wrong differences.
 */
import { DrError } from '../core/errors.js';
import type { KeyValue } from '../formats/mvcc/key-value.js';

export type KeyChange =
  | { kind: 'added'; key: Buffer; b: KeyValue }
  | { kind: 'removed'; key: Buffer; a: KeyValue }
  | { kind: 'changed'; key: Buffer; a: KeyValue; b: KeyValue; valueChanged: boolean; leaseChanged: boolean };

export interface DiffSummary {
  added: number;
  removed: number;
  changed: number;
  /** same value and lease, different mod revision */
  rewritten: number;
  /** same value, lease and mod revision */
  unchanged: number;
  keysA: number;
  keysB: number;
  equal: boolean;
}

function ascending(label: string): (k: Buffer) => void {
  let prev: Buffer | undefined;
  return (k) => {
    if (prev && Buffer.compare(prev, k) >= 0)
      throw new DrError(
        'INTERNAL',
        `diff: keys of ${label} are not in ascending order at ${k.toString('hex')}`,
      );
    prev = k;
  };
}

/** Calls onChange for every difference, in key order; `onStep` runs every 4096 keys (abort checks). */
export function diffKeys(
  a: Iterable<KeyValue>,
  b: Iterable<KeyValue>,
  onChange: (c: KeyChange) => void,
  onStep?: () => void,
): DiffSummary {
  const s: DiffSummary = {
    added: 0,
    removed: 0,
    changed: 0,
    rewritten: 0,
    unchanged: 0,
    keysA: 0,
    keysB: 0,
    equal: true,
  };
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  const checkA = ascending('A');
  const checkB = ascending('B');
  const nextA = (): KeyValue | undefined => {
    const r = ia.next();
    if (r.done) return undefined;
    checkA(r.value.key);
    s.keysA++;
    return r.value;
  };
  const nextB = (): KeyValue | undefined => {
    const r = ib.next();
    if (r.done) return undefined;
    checkB(r.value.key);
    s.keysB++;
    return r.value;
  };
  let x = nextA();
  let y = nextB();
  let steps = 0;
  while (x || y) {
    if (onStep && ++steps % 4096 === 0) onStep();
    const c = !x ? 1 : !y ? -1 : Buffer.compare(x.key, y.key);
    if (c < 0) {
      s.removed++;
      onChange({ kind: 'removed', key: x!.key, a: x! });
      x = nextA();
    } else if (c > 0) {
      s.added++;
      onChange({ kind: 'added', key: y!.key, b: y! });
      y = nextB();
    } else {
      const valueChanged = !x!.value.equals(y!.value);
      const leaseChanged = x!.lease !== y!.lease;
      if (valueChanged || leaseChanged) {
        s.changed++;
        onChange({ kind: 'changed', key: y!.key, a: x!, b: y!, valueChanged, leaseChanged });
      } else if (x!.modRevision !== y!.modRevision) s.rewritten++;
      else s.unchanged++;
      x = nextA();
      y = nextB();
    }
  }
  s.equal = s.added === 0 && s.removed === 0 && s.changed === 0;
  return s;
}
