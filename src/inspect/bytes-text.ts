/**
 * How keys and values (arbitrary bytes) are shown. Text when the bytes are valid UTF-8 without control
 * characters, else base64 with `encoding: 'base64'`, so JSON output is exact and a table never prints raw
 * binary. Values are only ever shown when asked for (--values), truncated unless --full.
 */
import { createHash } from 'node:crypto';

export interface ShownBytes {
  text: string;
  encoding: 'utf8' | 'base64';
  /** the original length when `text` holds only the first bytes */
  truncatedFrom?: number;
}

// C0 controls except tab/newline, DEL, and U+FFFD (what a lossy decode inserts)
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/;

export function showBytes(b: Uint8Array, limit = Infinity): ShownBytes {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const cut = buf.length > limit ? buf.subarray(0, limit) : buf;
  const text = cut.toString('utf8');
  // a cut may split a multi-byte character: judge the whole prefix minus a possibly split tail
  const utf8 = !UNPRINTABLE.test(cut.length === buf.length ? text : text.replace(/\ufffd{1,3}$/, ''));
  const out: ShownBytes = utf8
    ? { text: cut.length === buf.length ? text : text.replace(/\ufffd{1,3}$/, ''), encoding: 'utf8' }
    : { text: cut.toString('base64'), encoding: 'base64' };
  if (cut.length !== buf.length) out.truncatedFrom = buf.length;
  return out;
}

/** For tables: the text, or base64 marked as such, with an ellipsis when cut. */
export function bytesCell(b: Uint8Array, limit = Infinity): string {
  const s = showBytes(b, limit);
  const body = s.encoding === 'utf8' ? JSON.stringify(s.text).slice(1, -1) : `base64:${s.text}`;
  return s.truncatedFrom !== undefined ? `${body}… (${s.truncatedFrom} bytes)` : body;
}

/** The JSON fields for a key: `key` (+ `keyEncoding` when base64). */
export function keyFields(key: Uint8Array): { key: string; keyEncoding?: 'base64' } {
  const s = showBytes(key);
  return s.encoding === 'utf8' ? { key: s.text } : { key: s.text, keyEncoding: 'base64' };
}

/** The JSON fields for a value that is shown: `value`, `valueEncoding` when base64, `valueTruncated`. */
export function valueFields(
  value: Uint8Array,
  limit: number,
): { value: string; valueEncoding?: 'base64'; valueTruncated?: true } {
  const s = showBytes(value, limit);
  return {
    value: s.text,
    ...(s.encoding === 'base64' ? { valueEncoding: 'base64' as const } : {}),
    ...(s.truncatedFrom !== undefined ? { valueTruncated: true as const } : {}),
  };
}

/** First 16 hex digits of the value's sha256: tells values apart without showing them. */
export function valueDigest(value: Uint8Array): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}

/** Decodes what keyFields produced. */
export function keyFromFields(f: { key: string; keyEncoding?: string }): Buffer {
  return Buffer.from(f.key, f.keyEncoding === 'base64' ? 'base64' : 'utf8');
}
