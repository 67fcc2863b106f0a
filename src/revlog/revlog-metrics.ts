/**
 * What the writer reports as it runs, for the daemon to export (src/metrics) once it runs the log: a
 * small interface, so this folder needs no metrics library. `countingObserver` keeps the figures in
 * memory (the CLI prints them at the end; tests read them).
 */
import type { GapRecord } from './gap.js';
import type { SegmentManifest } from './segment-manifest.js';

export interface RevlogObserver {
  /** a segment's manifest was written (the segment is committed) */
  segmentCommitted(m: SegmentManifest): void;
  /** a gap was recorded and a new chain started */
  gapRecorded(g: GapRecord): void;
  /** a HashKV checkpoint was taken */
  checkpointTaken(revision: bigint): void;
  /** the newest revision etcd said it has sent (progress notifications and events) */
  watchRevision(revision: bigint): void;
  /** a revision was read from the watch into the open segment (not committed yet) */
  revisionLogged(revision: bigint): void;
  /** the writer watches this member now (its first answer came), or null: it does not (retrying) */
  watching?(endpoint: string | null): void;
}

export interface RevlogCounters {
  segments: number;
  revisions: number;
  events: number;
  storedBytes: number;
  gaps: number;
  checkpoints: number;
  /** last revision committed to storage; 0 before the first commit */
  committedRevision: bigint;
  /** newest revision etcd reported; committedRevision lags it by what is still open or uploading */
  watchRevision: bigint;
  /** newest revision read from the watch */
  loggedRevision: bigint;
  lastCommitAt: Date | null;
}

export const noopObserver: RevlogObserver = {
  segmentCommitted: () => undefined,
  gapRecorded: () => undefined,
  checkpointTaken: () => undefined,
  watchRevision: () => undefined,
  revisionLogged: () => undefined,
};

export function countingObserver(
  now: () => Date = () => new Date(),
): RevlogObserver & { counters: RevlogCounters } {
  const counters: RevlogCounters = {
    segments: 0,
    revisions: 0,
    events: 0,
    storedBytes: 0,
    gaps: 0,
    checkpoints: 0,
    committedRevision: 0n,
    watchRevision: 0n,
    loggedRevision: 0n,
    lastCommitAt: null,
  };
  return {
    counters,
    segmentCommitted: (m) => {
      counters.segments++;
      counters.revisions += m.revisionCount;
      counters.events += m.eventCount;
      counters.storedBytes += m.stored.size;
      counters.committedRevision = BigInt(m.lastRevision);
      counters.lastCommitAt = now();
    },
    gapRecorded: () => {
      counters.gaps++;
    },
    checkpointTaken: () => {
      counters.checkpoints++;
    },
    watchRevision: (r) => {
      if (r > counters.watchRevision) counters.watchRevision = r;
    },
    revisionLogged: (r) => {
      counters.loggedRevision = r;
    },
  };
}
