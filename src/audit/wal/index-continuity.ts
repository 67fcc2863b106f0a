/**
 * Index continuity across the whole WAL, in the order etcd reads it: the first entry where the log must
 * start (segment 0, the first segment's name, or right after a snapshot record), no gap between entries
 * (a damaged entry may stand for one lost slot), terms that never go down, HardState terms never behind an
 * entry already written, and at the end no entry ahead of the last HardState's term and no commit beyond the
 * log. It also keeps the index facts (first, last, last intact) the cross-checks compare with the db and
 * the snap files. One object, because these checks share the running window of terms and indexes.
 */
import type { HardState, RaftEntry, WalSnapshot } from '../../formats/raft/raft-messages.js';
import type { WalFacts } from './wal-facts.js';
import { WAL_RUNBOOK, type WalFindings } from './wal-findings.js';
import type { WalkedRecord } from './record-walk.js';

/** term per raft index for the most recent entries, enough to check terms across an overwrite */
const TERM_WINDOW = 1 << 16;

export class IndexContinuity {
  /** false from the first problem that stops etcd's reader (or its repair) on */
  private intact = true;
  private prevIndex: bigint | undefined;
  private readonly termAt = new Float64Array(TERM_WINDOW);
  private windowLo = 0; // lowest index whose term is in termAt
  private prevN: number | undefined;
  private firstN = 0;
  private damagedSlots = 0;
  private maxEntryTerm = { termN: 0, term: 0n, index: 0n, file: '', offset: 0 };
  private lastEntryFile = '';
  private lastEntryOffset = 0;
  /** the highest snapshot record seen before the first entry: the log may start right after it */
  private snapBeforeFirst = 0n;

  constructor(
    private readonly facts: WalFacts,
    private readonly out: WalFindings,
  ) {}

  /** etcd's reader stops here (an unreadable segment, a torn or corrupt one): nothing after it is intact */
  stopReading(): void {
    this.intact = false;
  }

  // the last entry in file order: a later, lower index is raft overwriting a conflicting tail
  private noteIntact(index: bigint): void {
    this.facts.lastIntactIndex = index;
  }

  /**
   * One entry record. Returns false when a damaged entry did not take its slot in the log (it is not
   * counted as the segment's or the log's entry).
   */
  entry({ seg, segFacts, rec, at }: WalkedRecord, entry: RaftEntry): boolean {
    const { facts, out } = this;
    const segLabel = out.label(seg.name);
    const i = entry.index;
    // continuity arithmetic in doubles: exact below 2^53, and an index beyond that is a gap anyway
    const n = Number(i);
    if (!rec.crcValid) {
      // a damaged entry (already reported) still fills its slot when its index is the expected one;
      // otherwise it may stand for one lost entry, so the next gap is allowed to be one wider
      if (this.prevN === undefined || n !== this.prevN + 1) {
        this.damagedSlots++;
        return false;
      }
    }
    if (facts.firstIndex === undefined && rec.crcValid) {
      // etcd keeps entries after the snapshot it starts from and needs the first one to be the next
      // index ("slice out of range" otherwise): a log that starts at segment 0 starts at entry 1, one
      // that etcd purged starts at its first segment's name (or right after a snapshot record)
      const seg0 = (facts.segments[0] ?? seg).index; // the first segment read
      // (a snapshot record can be written after entries past it: take the later of the two starts)
      const byName = seg0 > 0n ? seg0 : 1n;
      const expected = this.snapBeforeFirst + 1n > byName ? this.snapBeforeFirst + 1n : byName;
      if (i > expected)
        out.add(
          'error',
          'WAL_INDEX_GAP',
          seg.name,
          { ...at, index: i.toString() },
          `wal: the first entry is ${i} (${segLabel} offset ${rec.offset}), but the log starts at ${expected}: entries ${expected}..${i - 1n} are missing`,
          'index-gap',
        );
    }
    if (segFacts.firstEntryIndex === undefined) segFacts.firstEntryIndex = i;
    segFacts.lastEntryIndex = i;
    if (facts.firstIndex === undefined || n < this.firstN) {
      facts.firstIndex = i;
      this.firstN = n;
    }
    const term = Number(entry.term);
    if (term > this.maxEntryTerm.termN)
      this.maxEntryTerm = { termN: term, term: entry.term, index: i, file: seg.name, offset: rec.offset };
    if (rec.crcValid && term === 0)
      // raft gives every entry it writes a term of at least 1: a term-0 entry is bytes of another
      // record read as an entry (the record type is outside the CRC, so a flipped type passes it)
      out.add(
        'error',
        'WAL_TERM_DECREASE',
        seg.name,
        { ...at, index: i.toString() },
        `wal: entry ${i} at offset ${rec.offset} in ${segLabel} has term 0, which raft never writes: a damaged record type (another record read as an entry)?`,
        'index-gap',
      );
    else if (this.prevN !== undefined) {
      if (n > this.prevN + 1) {
        if (n > this.prevN + 1 + this.damagedSlots)
          out.add(
            'error',
            'WAL_INDEX_GAP',
            seg.name,
            { ...at, index: i.toString() },
            `wal: entry index jumps from ${this.prevIndex} (${out.label(this.lastEntryFile)} offset ${this.lastEntryOffset}) to ${i} (${segLabel} offset ${rec.offset}): entries ${this.prevIndex! + 1n}..${i - 1n} are missing`,
            'index-gap',
          );
        this.windowLo = n;
      } else {
        const before = n - 1;
        if (rec.crcValid && before >= this.windowLo && term < this.termAt[before % TERM_WINDOW]!)
          out.add(
            'error',
            'WAL_TERM_DECREASE',
            seg.name,
            { ...at, index: i.toString() },
            `wal: entry ${i} at offset ${rec.offset} in ${segLabel} has term ${entry.term}, lower than term ${this.termAt[before % TERM_WINDOW]} of entry ${before}`,
            'index-gap',
          );
      }
    } else this.windowLo = n;
    if (n < this.windowLo) this.windowLo = n;
    if (n - this.windowLo >= TERM_WINDOW) this.windowLo = n - TERM_WINDOW + 1;
    this.termAt[n % TERM_WINDOW] = term;
    this.prevIndex = i;
    this.prevN = n;
    this.damagedSlots = 0;
    this.lastEntryFile = seg.name;
    this.lastEntryOffset = rec.offset;
    facts.lastIndex = i;
    if (this.intact && rec.intact) this.noteIntact(i);
    return true;
  }

  /** One HardState record: its term is never behind an entry written before it. */
  hardState({ seg, rec, at }: WalkedRecord, hs: HardState): void {
    const { out } = this;
    // raft never persists a HardState whose term is behind an entry it already wrote (its term only
    // grows). The record type sits outside the CRC, so an entry whose type byte flipped to "state"
    // decodes as a HardState with the entry's type (0 or 1) as its term: this is how it shows.
    // the same flip on the first entry of a WAL: raft never persists term 0 with a vote or a commit
    if (hs.term === 0n && (hs.commit > 0n || hs.vote > 0n))
      out.add(
        'error',
        'WAL_STATE_TERM_BEHIND',
        seg.name,
        at,
        `wal: the state record at offset ${rec.offset} in ${out.label(seg.name)} has term 0 with vote ${hs.vote} and commit ${hs.commit}, which raft never writes: a damaged record type or a damaged record`,
        'corrupt-record',
      );
    else if (hs.term < this.maxEntryTerm.term)
      out.add(
        'error',
        'WAL_STATE_TERM_BEHIND',
        seg.name,
        at,
        `wal: the state record at offset ${rec.offset} in ${out.label(seg.name)} has term ${hs.term}, below term ${this.maxEntryTerm.term} of entry ${this.maxEntryTerm.index} written before it: a damaged record type or a damaged record`,
        'corrupt-record',
      );
    if (rec.crcValid) this.facts.lastHardState = { ...hs, file: out.label(seg.name), offset: rec.offset };
  }

  /** One snapshot record: the log may start right after it, and it counts as read when intact. */
  snapshot({ seg, rec }: WalkedRecord, s: WalSnapshot): void {
    const { facts } = this;
    if (rec.crcValid && facts.firstIndex === undefined && s.index > this.snapBeforeFirst)
      this.snapBeforeFirst = s.index;
    if (rec.crcValid && this.intact && rec.intact && (facts.lastIntactIndex ?? 0n) < s.index)
      this.noteIntact(s.index);
    if (rec.crcValid)
      facts.snapshotRecords.push({
        index: s.index,
        term: s.term,
        ...(s.confState ? { confState: s.confState } : {}),
        file: this.out.label(seg.name),
        offset: rec.offset,
      });
  }

  /** After the last segment: the last intact index when no entry was, and the log against the last HardState. */
  finish(): void {
    const { facts, out } = this;
    // no intact entry at all: the WAL holds nothing past where its first segment starts (a segment is named for
    // the index of the first entry it is meant to hold; older ones were covered by a snapshot and purged)
    if (facts.lastIntactIndex === undefined && facts.segments.length > 0) {
      const first = facts.segments[0]!.index;
      facts.lastIntactIndex = first > 0n ? first - 1n : 0n;
    }

    if (facts.lastHardState) {
      const hs = facts.lastHardState;
      const snapMax = facts.snapshotRecords.reduce((m, s) => (s.index > m ? s.index : m), 0n);
      const top = facts.lastIndex !== undefined && facts.lastIndex > snapMax ? facts.lastIndex : snapMax;
      const maxEntryTerm = this.maxEntryTerm;
      // raft persists a new term's HardState with (or before) its first entries: no entry may be ahead
      if (maxEntryTerm.term > hs.term)
        out.add(
          'error',
          'WAL_TERM_AHEAD',
          maxEntryTerm.file,
          { offset: maxEntryTerm.offset, index: maxEntryTerm.index.toString() },
          `wal: entry ${maxEntryTerm.index} at offset ${maxEntryTerm.offset} in ${out.label(maxEntryTerm.file)} has term ${maxEntryTerm.term}, above the last HardState term ${hs.term}`,
          'index-gap',
        );
      if (hs.commit > top)
        out.push({
          severity: 'error',
          code: 'WAL_COMMIT_BEYOND_LOG',
          file: hs.file,
          location: { offset: hs.offset, index: hs.commit.toString() },
          message: `wal: the last HardState (${hs.file} offset ${hs.offset}) says entries up to ${hs.commit} are committed, but the WAL holds entries only up to ${top}: committed entries are missing`,
          runbook: `${WAL_RUNBOOK}#index-gap`,
        });
    } else if (facts.entryCount > 0) {
      out.add(
        'warning',
        'WAL_NO_HARDSTATE',
        undefined,
        undefined,
        'wal: entries are present but no HardState record was found',
        'corrupt-record',
      );
    }
  }
}
