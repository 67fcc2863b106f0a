/**
 * A gap in the revision log: revisions that were never logged and can no longer be (docs/revision-log.md
 * §5). Written by the writer when it finds one, before it starts the next chain; read by every reader of
 * the log, which reports it. Gap records are never rewritten.
 */
import { z } from 'zod';
import type { Backend } from '../storage/backend.js';
import { gapKey } from './layout.js';
import { readJsonObject, writeJsonObject } from './json-object.js';

const dec = z.string().regex(/^\d+$/, 'a decimal integer');

export const GAP_CAUSES = ['watch-compacted', 'resume-compacted', 'chain-broken'] as const;
export type GapCause = (typeof GAP_CAUSES)[number];

export const gapRecordSchema = z.object({
  formatVersion: z.literal(1),
  kind: z.literal('revlog-gap'),
  clusterName: z.string(),
  /**
   * watch-compacted: etcd cancelled the running watch, its next revision compacted; resume-compacted: the
   * revision to resume from (or to start from, after a full backup) was compacted when the writer started;
   * chain-broken: the newest segment does not link to the one before it
   */
  cause: z.enum(GAP_CAUSES),
  /** the first revision the log misses */
  lostFrom: dec,
  /** the first revision of the new chain (the oldest revision etcd still had), null if none was started */
  resumedFrom: dec.nullable(),
  /** the compact revision etcd reported, when compaction is the cause */
  compactRevision: dec.nullable(),
  previousChainId: z.string().nullable(),
  newChainId: z.string().nullable(),
  detectedAt: z.iso.datetime(),
  message: z.string(),
});

export type GapRecord = z.infer<typeof gapRecordSchema>;

/** Why revisions were lost to a compaction, for the record's message. */
export function compactionCause(cause: GapCause, next: bigint, compactRevision: bigint): string {
  return cause === 'resume-compacted'
    ? `revision ${next}, where the log was to resume or start, is compacted (etcd's compact revision is ${compactRevision}): the writer was down, or the full backup is older than the compaction window`
    : `etcd cancelled the watch at revision ${next}: compacted (compact revision ${compactRevision}); the writer fell behind the compaction window`;
}

/**
 * A gap record. The new chain starts after the compaction (the oldest revision etcd still has whole), or
 * at `lostFrom` when nothing was compacted (a broken link).
 */
export function newGapRecord(g: {
  cluster: string;
  cause: GapCause;
  lostFrom: bigint;
  compactRevision: bigint | null;
  previousChainId: string | null;
  newChainId: string;
  at: Date;
  why: string;
}): GapRecord {
  const resumedFrom = g.compactRevision !== null ? g.compactRevision + 1n : g.lostFrom;
  return {
    formatVersion: 1,
    kind: 'revlog-gap',
    clusterName: g.cluster,
    cause: g.cause,
    lostFrom: g.lostFrom.toString(),
    resumedFrom: resumedFrom.toString(),
    compactRevision: g.compactRevision?.toString() ?? null,
    previousChainId: g.previousChainId,
    newChainId: g.newChainId,
    detectedAt: g.at.toISOString(),
    message: `${g.why}; a new chain starts at revision ${resumedFrom}, and a full backup taken now gives it a base`,
  };
}

export async function writeGapRecord(backend: Backend, g: GapRecord, signal?: AbortSignal): Promise<string> {
  const key = gapKey(g.clusterName, BigInt(g.lostFrom), new Date(g.detectedAt));
  await writeJsonObject(backend, key, g, signal);
  return key;
}

export async function readGapRecord(backend: Backend, key: string, signal?: AbortSignal): Promise<GapRecord> {
  return (
    await readJsonObject(backend, key, gapRecordSchema, { what: 'gap record', check: 'gap-record' }, signal)
  ).value;
}
