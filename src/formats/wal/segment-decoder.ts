/**
 * Decodes the record frames of ONE WAL segment held in a Buffer (docs/format.md §2.2–§2.6) and checks the rolling
 * CRC32C chain. Bytes in, records and problems out: no I/O, never throws on bad data.
 *
 * Vocabulary:
 * - frame: 8-byte length field + record bytes + zero padding to the next multiple of 8;
 * - running CRC: CRC32C chained over the data of every non-crc record, across segments (docs/format.md §2.4);
 * - valid end: the offset just after the last good record before the first problem (etcd's
 *   lastValidOff: where `Repair` would truncate a torn last segment);
 * - torn record: a frame in the LAST segment that fails to decode or to match its CRC and whose body
 *   has an all-zero 512-byte sector chunk (docs/format.md §2.6 rule 4), or that runs past the end of the file;
 * - resync (continue mode): after a problem, scan forward over 8-aligned offsets for the next
 *   plausible length field + record, and go on decoding from there.
 *
 * Over 400 lines on purpose: one hot loop over the frames of a segment with its problem kinds beside it
 * (the decoder is on the audit's hot path).
 */
import protobuf from 'protobufjs';
import { RECORD_FIELDS, expectWire, skipUnknown } from '../raft/wire.js';
import { crc32cRange } from './crc32c-small.js';
import { MAX_WAL_RECORD_BYTES, SECTOR_BYTES, WalRecordType } from './record-type.js';

export interface WalRecord {
  /** offset of the record's length field in the segment */
  offset: number;
  recBytes: number;
  padBytes: number;
  /** walpb.Record.type (1..5 in a sound WAL) */
  type: number;
  /** walpb.Record.crc as stored */
  crc: number;
  /** walpb.Record.data: a view into the segment buffer (no copy), made when read */
  readonly data: Buffer | undefined;
  /** where walpb.Record.data starts in the segment buffer, and its length (0: absent or empty) */
  dataOffset: number;
  dataLength: number;
  /** 0-based position of the record in its segment */
  ordinal: number;
  /** found by resyncing after a problem: its CRC could not be checked against the chain */
  resynced: boolean;
  /** the record decoded and its CRC matched (or could not be checked, see resynced) */
  crcValid: boolean;
  /** read before the segment's first stopping problem: etcd reads this record too */
  intact: boolean;
}

export type WalProblemCode =
  | 'WAL_LENGTH_INVALID'
  | 'WAL_RECORD_TOO_LARGE'
  | 'WAL_PADDING_NONZERO'
  | 'WAL_RECORD_DECODE'
  | 'WAL_CRC_MISMATCH'
  | 'WAL_CRC_CHAIN_BROKEN'
  | 'WAL_TORN_TAIL'
  | 'WAL_ZEROED_SECTOR'
  | 'WAL_SEGMENT_TRUNCATED'
  | 'WAL_SEGMENT_ENDS_EARLY'
  | 'WAL_RECORDS_AFTER_END'
  | 'WAL_TAIL_NOT_ZERO';

export interface WalProblem {
  code: WalProblemCode;
  /** offset in the segment where the problem is (usually a length field) */
  offset: number;
  /** ordinal of the record concerned, when there is one */
  record?: number;
  message: string;
}

export interface SegmentDecodeOptions {
  /**
   * Running CRC at the end of the previous segment. Undefined (or 0) when no previous segment was
   * read: the segment's first crc record then seeds the chain unchecked, as in etcd.
   */
  prevCrc?: number;
  /** the torn-write rule applies only to the last segment */
  isLast: boolean;
  /** forensic mode: resync past problems instead of stopping at the first fatal one @default false */
  continuePastError?: boolean;
}

export interface SegmentDecodeResult {
  records: number;
  /** running CRC after the last record (to seed the next segment) */
  endCrc: number;
  /** etcd's lastValidOff: end of the last good record before the first stopping problem */
  validEnd: number;
  /**
   * How the segment ended: 'eof' (records up to the last byte), 'zero-tail' (a zero length field and only
   * zeros after it), 'torn' (a torn last record, repairable), 'corrupt' (a fatal problem), 'garbage-tail'
   * (zero length field followed by non-zero bytes that hold no records).
   */
  end: 'eof' | 'zero-tail' | 'torn' | 'corrupt' | 'garbage-tail';
  problems: WalProblem[];
  /** records decoded after the record of the first stopping problem (continue mode) */
  recovered: number;
}

const ZERO_CHUNK = Buffer.alloc(1 << 16);

/** true when buf[from, to) holds only zero bytes */
export function isZeroRange(buf: Buffer, from: number, to: number): boolean {
  if (to - from <= 64) {
    // short ranges (padding): a loop beats making Buffer views
    for (let p = from; p < to; p++) if (buf[p] !== 0) return false;
    return true;
  }
  for (let p = from; p < to; p += ZERO_CHUNK.length) {
    const end = Math.min(to, p + ZERO_CHUNK.length);
    if (!buf.subarray(p, end).equals(ZERO_CHUNK.subarray(0, end - p))) return false;
  }
  return true;
}

/** The first all-zero chunk of [from, to) cut at absolute 512-byte boundaries (docs/format.md §2.6), or -1. */
export function firstZeroSectorChunk(buf: Buffer, from: number, to: number): number {
  let p = from;
  while (p < to) {
    const next = Math.min(to, (Math.floor(p / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (isZeroRange(buf, p, next)) return p;
    p = next;
  }
  return -1;
}

interface Frame {
  recBytes: number;
  padBytes: number;
  /** the top byte matches what etcd's encoder (3.0+) writes for recBytes */
  canonical: boolean;
  /** a top byte of 0 on a length that is not a multiple of 8: the unpadded frame etcd before 3.0 wrote */
  legacy: boolean;
  zero: boolean;
}

function readLengthField(buf: Buffer, off: number): Frame {
  const lo = buf.readUInt32LE(off);
  const hi = buf.readUInt32LE(off + 4);
  const top = hi >>> 24;
  const recBytes = lo + (hi & 0xffffff) * 0x1_0000_0000;
  // etcd reads the field as int64: negative means padding is present in bits 56..58
  const padBytes = top & 0x80 ? top & 7 : 0;
  const wantPad = (8 - (recBytes % 8)) % 8;
  const canonical = wantPad === 0 ? top === 0 : top === (0x80 | wantPad);
  return { recBytes, padBytes, canonical, legacy: top === 0 && wantPad !== 0, zero: lo === 0 && hi === 0 };
}

/** the data field is located, not copied or viewed: dataLen 0 means absent or empty */
/**
 * What onRecord receives. The data view is made on access: a Buffer view costs about as much as framing a
 * small record, and callers that decode in place (decodeEntryAt with dataOffset) never need one.
 */
class SegmentRecord implements WalRecord {
  readonly type: number;
  readonly crc: number;
  readonly dataOffset: number;
  readonly dataLength: number;
  constructor(
    private readonly buf: Buffer,
    readonly offset: number,
    readonly recBytes: number,
    readonly padBytes: number,
    d: { type: number; crc: number; dataStart: number; dataLen: number },
    readonly ordinal: number,
    readonly resynced: boolean,
    readonly crcValid: boolean,
    readonly intact: boolean,
  ) {
    this.type = d.type;
    this.crc = d.crc;
    this.dataOffset = d.dataStart;
    this.dataLength = d.dataLen;
  }
  get data(): Buffer | undefined {
    return this.dataLength
      ? this.buf.subarray(this.dataOffset, this.dataOffset + this.dataLength)
      : undefined;
  }
}

type Decoded =
  { ok: true; type: number; crc: number; dataStart: number; dataLen: number } | { ok: false; error: string };

const { type: F_TYPE, crc: F_CRC, data: F_DATA } = RECORD_FIELDS;

function decodeRecordAt(reader: protobuf.Reader, start: number, len: number): Decoded {
  try {
    // a field may not run past its frame: bound the reader to the record (gogo gets exactly these bytes)
    reader.len = start + len;
    reader.pos = start;
    let type = 0;
    let crc = 0;
    let dataStart = 0;
    let dataLen = 0;
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (field === F_TYPE) {
        expectWire('walpb.Record', field, wire, 0);
        // int64; only 1..5 are valid, so the low 32 bits are all that matters
        type = reader.uint32();
      } else if (field === F_CRC) {
        expectWire('walpb.Record', field, wire, 0);
        crc = reader.uint32();
      } else if (field === F_DATA) {
        expectWire('walpb.Record', field, wire, 2);
        dataLen = reader.uint32();
        dataStart = reader.pos;
        if (dataStart + dataLen > reader.len)
          throw new RangeError(`walpb.Record: data (${dataLen} bytes) runs past the end of the record`);
        reader.pos = dataStart + dataLen;
      } else skipUnknown(reader, 'walpb.Record', field, wire);
    }
    return { ok: true, type, crc: crc >>> 0, dataStart, dataLen };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/**
 * Finds the next plausible record frame at an 8-aligned offset >= from: canonical non-zero length field,
 * frame inside the buffer, zero padding, a walpb.Record with type 1..5. Returns -1 when none.
 */
export function findNextFrame(buf: Buffer, from: number, reader?: protobuf.Reader): number {
  const r = reader ?? strictReader(buf);
  {
    for (let pos = Math.ceil(from / 8) * 8; pos + 8 <= buf.length; pos += 8) {
      const hi = buf.readUInt32LE(pos + 4);
      const top = hi >>> 24;
      if (top !== 0 && (top < 0x81 || top > 0x87)) continue;
      const f = readLengthField(buf, pos);
      if (
        f.zero ||
        !(f.canonical || f.legacy) ||
        f.recBytes < 2 ||
        f.recBytes >= MAX_WAL_RECORD_BYTES - f.padBytes
      )
        continue;
      const bodyEnd = pos + 8 + f.recBytes;
      if (bodyEnd + f.padBytes > buf.length) continue;
      if (f.padBytes && !isZeroRange(buf, bodyEnd, bodyEnd + f.padBytes)) continue;
      const d = decodeRecordAt(r, pos + 8, f.recBytes);
      if (d.ok && d.type >= 1 && d.type <= 5 && (d.type === WalRecordType.Crc) === (d.dataLen === 0))
        return pos;
    }
    return -1;
  }
}

function strictReader(buf: Buffer): protobuf.Reader {
  return protobuf.Reader.create(buf);
}

/**
 * Decodes one segment. `onRecord` receives every record that framed and decoded (including ones whose
 * CRC failed: the problem list says which), in file order.
 */
export function decodeWalSegment(
  buf: Buffer,
  opts: SegmentDecodeOptions,
  onRecord?: (rec: WalRecord) => void,
): SegmentDecodeResult {
  const len = buf.length;
  const reader = strictReader(buf);
  const problems: WalProblem[] = [];
  const cont = opts.continuePastError === true;
  let running = (opts.prevCrc ?? 0) >>> 0;
  let off = 0;
  let ordinal = 0;
  let validEnd = 0;
  let stopped = false;
  /** offset of the first stopping problem: records at or before it are not "recovered after it" */
  let stopOffset = -1;
  let end: SegmentDecodeResult['end'] = 'eof';
  let recovered = 0;
  let resyncing = false;
  // after a CRC mismatch at record N: the chain value N's data really produced, to tell a damaged crc
  // field (data intact) from damaged data at record N+1
  let altRunning: { value: number; problem: WalProblem } | undefined;

  const stop = (p: WalProblem, kind: SegmentDecodeResult['end'], resumeFrom: number): boolean => {
    problems.push(p);
    if (!stopped) {
      stopped = true;
      stopOffset = p.offset;
      end = kind;
    }
    const next = findNextFrame(buf, resumeFrom, reader);
    if (next < 0 || !cont) return false;
    off = next;
    resyncing = true;
    return true;
  };

  for (;;) {
    if (off >= len) break;
    if (len - off < 8) {
      const msg = `partial length field (${len - off} bytes) at offset ${off}`;
      if (opts.isLast)
        stop({ code: 'WAL_TORN_TAIL', offset: off, message: `${msg}: torn write` }, 'torn', len);
      else
        stop(
          { code: 'WAL_SEGMENT_TRUNCATED', offset: off, message: `${msg} in a segment that is not the last` },
          'corrupt',
          len,
        );
      break;
    }
    const f = readLengthField(buf, off);
    if (f.zero) {
      if (isZeroRange(buf, off, len)) {
        if (!stopped) end = 'zero-tail';
        break;
      }
      // a zero length field ends the segment for etcd; anything after it is never read
      const next = findNextFrame(buf, off + 8, reader);
      if (next >= 0) {
        const code: WalProblemCode = opts.isLast ? 'WAL_RECORDS_AFTER_END' : 'WAL_SEGMENT_ENDS_EARLY';
        const p: WalProblem = {
          code,
          offset: off,
          message: `zero length field at offset ${off} ends the segment for etcd, but a record frame follows at offset ${next}: etcd silently skips everything after offset ${off}`,
        };
        if (!stop(p, 'corrupt', next)) break;
        continue;
      }
      if (opts.isLast) {
        problems.push({
          code: 'WAL_TAIL_NOT_ZERO',
          offset: off,
          message: `zero length field at offset ${off} is followed by non-zero bytes that hold no records (etcd zero-fills them on its next start)`,
        });
        if (!stopped) end = 'garbage-tail';
      } else {
        problems.push({
          code: 'WAL_SEGMENT_ENDS_EARLY',
          offset: off,
          message: `zero length field at offset ${off} in a segment that is not the last: the ${len - off} bytes after it are skipped by etcd`,
        });
        if (!stopped) {
          stopped = true;
          end = 'corrupt';
        }
      }
      break;
    }

    const bodyStart = off + 8;
    const bodyEnd = bodyStart + f.recBytes;
    const frameEnd = bodyEnd + f.padBytes;
    if (f.recBytes >= MAX_WAL_RECORD_BYTES - f.padBytes) {
      const p: WalProblem = {
        code: 'WAL_RECORD_TOO_LARGE',
        offset: off,
        record: ordinal,
        message: `length field at offset ${off} claims ${f.recBytes} bytes: above etcd's 10 MiB record limit (fatal, not repairable)`,
      };
      if (!stop(p, 'corrupt', off + 8)) break;
      continue;
    }
    if (frameEnd > len) {
      const msg = `record at offset ${off} (${f.recBytes} bytes + ${f.padBytes} padding) runs past the end of the ${len}-byte segment`;
      const p: WalProblem = opts.isLast
        ? { code: 'WAL_TORN_TAIL', offset: off, record: ordinal, message: `${msg}: torn write` }
        : {
            code: 'WAL_SEGMENT_TRUNCATED',
            offset: off,
            record: ordinal,
            message: `${msg}, which is not the last`,
          };
      if (!stop(p, opts.isLast ? 'torn' : 'corrupt', off + 8)) break;
      continue;
    }

    const d = decodeRecordAt(reader, bodyStart, f.recBytes);
    let crcOk = true;
    let computed = running;
    if (d.ok && d.type !== WalRecordType.Crc) {
      computed = d.dataLen ? crc32cRange(buf, d.dataStart, d.dataStart + d.dataLen, running) : running;
      if (resyncing) computed = d.crc;
      crcOk = computed === d.crc;
      if (!crcOk && altRunning) {
        const alt = d.dataLen
          ? crc32cRange(buf, d.dataStart, d.dataStart + d.dataLen, altRunning.value)
          : altRunning.value;
        if (alt === d.crc) {
          altRunning.problem.message += `; the next record chains from the data's own CRC, so the stored crc field of that record was damaged and its data is intact`;
          crcOk = true;
          computed = alt;
        }
      }
    }
    altRunning = undefined;

    if (!d.ok || !crcOk) {
      // docs/format.md §2.6 rule 4: torn only in the last segment and only with an all-zero sector chunk in the body
      const zeroAt = firstZeroSectorChunk(buf, bodyStart, frameEnd);
      const what = !d.ok
        ? `record at offset ${off} does not decode (${d.error})`
        : `record at offset ${off} (type ${d.type}) fails its CRC: stored ${hex(d.crc)}, chain gives ${hex(computed)}`;
      if (opts.isLast && zeroAt >= 0) {
        const next = frameEnd < len ? findNextFrame(buf, frameEnd, reader) : -1;
        if (next < 0) {
          const trailing = isZeroRange(buf, frameEnd, len) ? '' : ' (non-zero bytes follow, but no records)';
          const p: WalProblem = {
            code: 'WAL_TORN_TAIL',
            offset: off,
            record: ordinal,
            message: `${what}; its body has an all-zero sector at offset ${zeroAt}: a torn write at the tail${trailing}. etcd repairs this on start by truncating at offset ${validEnd}`,
          };
          stop(p, 'torn', len);
          break;
        }
        const p: WalProblem = {
          code: 'WAL_ZEROED_SECTOR',
          offset: off,
          record: ordinal,
          message: `${what}; its body has an all-zero sector at offset ${zeroAt}, yet intact records follow at offset ${next}: etcd would treat it as a torn write and truncate at offset ${validEnd}, discarding them`,
        };
        if (!stop(p, 'corrupt', next)) break;
        continue;
      }
      const zeroNote = zeroAt >= 0 ? `; the body has an all-zero sector at offset ${zeroAt}` : '';
      if (!d.ok) {
        const p: WalProblem = {
          code: 'WAL_RECORD_DECODE',
          offset: off,
          record: ordinal,
          message: `${what}${zeroNote}`,
        };
        if (!stop(p, 'corrupt', off + 8)) break;
        continue;
      }
      // framing is intact: report, re-seed the chain from the stored value and go on with the next frame
      const p: WalProblem = {
        code: 'WAL_CRC_MISMATCH',
        offset: off,
        record: ordinal,
        message: `${what}${zeroNote}`,
      };
      problems.push(p);
      if (!stopped) {
        stopped = true;
        stopOffset = off;
        end = 'corrupt';
      }
      if (!cont) break;
      altRunning = { value: computed, problem: p };
      computed = d.crc;
    }

    if (d.type === WalRecordType.Crc) {
      if (running !== 0 && running !== d.crc && !resyncing) {
        problems.push({
          code: 'WAL_CRC_CHAIN_BROKEN',
          offset: off,
          record: ordinal,
          message: `crc record at offset ${off} holds ${hex(d.crc)} but the chain so far gives ${hex(running)}`,
        });
        if (!stopped) {
          stopped = true;
          stopOffset = off;
          end = 'corrupt';
        }
        if (!cont) break;
      }
      computed = d.crc;
    }
    running = computed;

    if (f.padBytes && !isZeroRange(buf, bodyEnd, frameEnd)) {
      problems.push({
        code: 'WAL_PADDING_NONZERO',
        offset: bodyEnd,
        record: ordinal,
        message: `padding after the record at offset ${off} (bytes ${bodyEnd}..${frameEnd - 1}) is not zero; etcd ignores padding, the record itself is intact`,
      });
    }
    // etcd reads the field as int64: a top byte of 0 means "no padding" (how etcd before 3.0 framed every
    // record), 0x80|n means n padding bytes; other bits are ignored. Only a field etcd 3.0+ would never write
    // and that is not the pre-3.0 framing is noted, and etcd reads the frame the same way as here.
    if (!f.canonical && !f.legacy) {
      problems.push({
        code: 'WAL_LENGTH_INVALID',
        offset: off,
        record: ordinal,
        message: `length field at offset ${off} has top byte 0x${buf[off + 7]!.toString(16)}, not what etcd writes for a ${f.recBytes}-byte record (${f.recBytes % 8 ? `0x${(0x80 | (8 - (f.recBytes % 8))).toString(16)}` : '0x00'}); etcd reads it as ${f.padBytes} padding byte(s), and the record decodes`,
      });
    }

    onRecord?.(new SegmentRecord(buf, off, f.recBytes, f.padBytes, d, ordinal, resyncing, crcOk, !stopped));
    if (stopped && off > stopOffset) recovered++;
    resyncing = false;
    ordinal++;
    off = frameEnd;
    if (!stopped) validEnd = off;
  }
  return { records: ordinal, endCrc: running, validEnd, end, problems, recovered };
}
