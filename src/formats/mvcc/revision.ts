/**
 * The `key` bucket's keys (docs/format.md §5): main revision (int64 BE), '_', sub revision (int64 BE),
 * plus a trailing 't' for a tombstone. Byte order equals (main, sub) order.
 */
export interface Revision {
  main: bigint;
  sub: bigint;
  tombstone: boolean;
}

export const REVISION_KEY_SIZE = 17;
const SEPARATOR = 0x5f; // '_'
const TOMBSTONE = 0x74; // 't'

/** Why `k` is not a revision key, or null when it is one. */
export function revisionKeyProblem(k: Buffer): string | null {
  if (k.length === REVISION_KEY_SIZE + 1) {
    if (k[REVISION_KEY_SIZE] !== TOMBSTONE)
      return `18-byte revision key does not end in 't' (0x${k.toString('hex')})`;
  } else if (k.length !== REVISION_KEY_SIZE) {
    return `revision key is ${k.length} bytes, expected 17 (or 18 for a tombstone)`;
  }
  if (k[8] !== SEPARATOR)
    return `revision key has 0x${k[8]!.toString(16)} where '_' belongs (0x${k.toString('hex')})`;
  return null;
}

/** Parses a revision key; null when the format is wrong (see revisionKeyProblem). */
export function parseRevisionKey(k: Buffer): Revision | null {
  if (revisionKeyProblem(k) !== null) return null;
  return {
    main: k.readBigInt64BE(0),
    sub: k.readBigInt64BE(9),
    tombstone: k.length === REVISION_KEY_SIZE + 1,
  };
}

export function revisionKey(main: bigint, sub = 0n, tombstone = false): Buffer {
  const b = Buffer.alloc(tombstone ? 18 : 17);
  b.writeBigInt64BE(main, 0);
  b[8] = SEPARATOR;
  b.writeBigInt64BE(sub, 9);
  if (tombstone) b[17] = TOMBSTONE;
  return b;
}

/** main revision of a key at least 8 bytes long, as `snapshot status` reads it */
export function mainOf(k: Buffer): bigint {
  return k.readBigInt64BE(0);
}
