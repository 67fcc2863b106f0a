/**
 * What etcd would do with how a segment ends and with the damage its decoder found: repair it (a torn last
 * record: Repair truncates there, a warning), refuse to start (corruption inside the log, an error), or
 * leave it as it is (a clean zero tail, the preallocated `.tmp` segment, the `.broken` copy of an earlier
 * repair: info). On a running member the last record may be in flight while it is read: that is info too.
 * Kept apart from the record walk because these verdicts are about etcd's reader and repair, not records.
 */
import type { Severity } from '../finding.js';
import type { SegmentDecodeResult, WalProblemCode } from '../../formats/wal/segment-decoder.js';
import type { WalFacts } from './wal-facts.js';
import type { WalFindings } from './wal-findings.js';

const PROBLEM_META: Record<WalProblemCode, { severity: Severity; anchor: string }> = {
  WAL_LENGTH_INVALID: { severity: 'info', anchor: 'corrupt-record' },
  WAL_RECORD_TOO_LARGE: { severity: 'error', anchor: 'corrupt-record' },
  WAL_PADDING_NONZERO: { severity: 'warning', anchor: 'nonzero-padding' },
  WAL_RECORD_DECODE: { severity: 'error', anchor: 'corrupt-record' },
  WAL_CRC_MISMATCH: { severity: 'error', anchor: 'corrupt-record' },
  WAL_CRC_CHAIN_BROKEN: { severity: 'error', anchor: 'crc-chain-broken' },
  WAL_TORN_TAIL: { severity: 'warning', anchor: 'torn-tail' },
  WAL_ZEROED_SECTOR: { severity: 'error', anchor: 'zeroed-sector' },
  WAL_SEGMENT_TRUNCATED: { severity: 'error', anchor: 'truncated-segment' },
  WAL_SEGMENT_ENDS_EARLY: { severity: 'error', anchor: 'truncated-segment' },
  WAL_RECORDS_AFTER_END: { severity: 'error', anchor: 'records-after-end' },
  WAL_TAIL_NOT_ZERO: { severity: 'warning', anchor: 'torn-tail' },
};

/** The files beside the segments that etcd itself leaves: a repair's `.wal.broken` copy, the next `.tmp` segment. */
export function noteLeftovers(names: readonly string[], out: WalFindings): void {
  for (const n of names) {
    if (n.endsWith('.wal.broken'))
      out.add(
        'info',
        'WAL_BROKEN_COPY',
        n,
        undefined,
        `wal: ${out.label(n)} is the copy etcd keeps when it repairs a torn last segment: this WAL was repaired before`,
        'torn-tail',
      );
    else if (/^\d+\.tmp$/.test(n))
      out.add(
        'info',
        'WAL_TMP_SEGMENT',
        n,
        undefined,
        `wal: ${out.label(n)} is the next segment etcd preallocates and keeps ready while it runs (left in place when it stops)`,
        'torn-tail',
      );
  }
}

/**
 * The decoder's problems in one segment as findings, each with the severity of what etcd does about it.
 * (The decoder reports the truncation of a segment that is not the last one itself.)
 */
export function reportSegmentProblems(
  name: string,
  res: SegmentDecodeResult,
  isLast: boolean,
  live: boolean,
  out: WalFindings,
): void {
  const liveTail = isLast && live && res.end === 'torn';
  for (const p of res.problems) {
    const meta = PROBLEM_META[p.code];
    const after =
      res.recovered > 0 &&
      p === res.problems.find((q) => q.code !== 'WAL_PADDING_NONZERO' && q.code !== 'WAL_LENGTH_INVALID')
        ? ` (${res.recovered} record(s) recovered after it)`
        : '';
    // the member runs: its last record is being written while we read it (etcd fsyncs before it acks)
    // (or etcd is writing records past what it wrote when we read the length field: bytes of a write in
    // progress beyond a still-zero length field)
    const inFlight =
      (liveTail && p.code === 'WAL_TORN_TAIL') || (isLast && live && p.code === 'WAL_TAIL_NOT_ZERO');
    out.add(
      inFlight ? 'info' : meta.severity,
      p.code,
      name,
      { offset: p.offset, ...(p.record !== undefined ? { record: p.record } : {}) },
      inFlight
        ? `wal: ${out.label(name)}: the running member is writing its last records while we read (${p.message})`
        : `wal: ${out.label(name)}: ${p.message}${after}`,
      meta.anchor,
    );
  }
}

/** etcd reads no record after a problem that stops it (or that its repair truncates at) */
export function stopsReader(end: SegmentDecodeResult['end']): boolean {
  return end === 'torn' || end === 'corrupt';
}

/** The last segment's end as the WAL's tail, and where etcd's Repair would cut a torn one. */
export function classifyTail(
  name: string,
  res: SegmentDecodeResult,
  facts: WalFacts,
  out: WalFindings,
): void {
  facts.tail =
    res.end === 'eof' || res.end === 'zero-tail'
      ? 'clean'
      : res.end === 'torn'
        ? 'torn'
        : res.end === 'garbage-tail'
          ? 'garbage'
          : 'corrupt';
  if (res.end === 'torn') facts.repairAt = { file: out.label(name), offset: res.validEnd };
}
