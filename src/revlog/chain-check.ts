/**
 * Whether a cluster's log is continuous (docs/revision-log.md §4): pure, handed the manifests and gap
 * records read from storage, returns every problem found (it never stops at the first).
 *
 * - chain: segments sharing a chainId. Its first segment has prevSha256 null and starts at the chain's
 *   start revision; each next one names the sha256 of the previous manifest's bytes and starts one
 *   revision after it ends (every etcd revision is one write, and a watch on every key sees them all).
 * - between chains: the revisions from one chain's end to the next one's start are missing. A gap record
 *   covering them says why (`gap`); none is `unrecorded-gap`.
 * - retention (log-retention.ts) removes whole segments at or below the revision it records as pruned
 *   through: a first segment whose predecessor ended there is where the log now begins, not a missing start.
 */
import type { GapRecord } from './gap.js';
import type { ReadSegmentManifest } from './segment-manifest.js';

export type LogProblemCode =
  | 'chain-broken'
  | 'chain-start-missing'
  | 'revision-gap'
  | 'revision-overlap'
  | 'gap'
  | 'unrecorded-gap'
  | 'segment-refused';

export interface LogProblem {
  code: LogProblemCode;
  /** the first revision concerned */
  revision: bigint;
  /** the last one, when the problem spans revisions (missing ones) */
  lastRevision?: bigint;
  key?: string;
  message: string;
}

export interface ChainSummary {
  chainId: string;
  startRevision: bigint;
  firstRevision: bigint;
  lastRevision: bigint;
  segments: number;
  firstTime: string;
  lastTime: string;
}

export interface ChainCheck {
  chains: ChainSummary[];
  problems: LogProblem[];
}

const rev = (s: string) => BigInt(s);

export function checkChains(
  segments: readonly ReadSegmentManifest[],
  gaps: readonly { key: string; record: GapRecord }[],
  prunedThrough: bigint | null = null,
): ChainCheck {
  const problems: LogProblem[] = [];
  const sorted = [...segments].sort((a, b) => {
    const d = rev(a.manifest.firstRevision) - rev(b.manifest.firstRevision);
    return d !== 0n ? (d < 0n ? -1 : 1) : a.key < b.key ? -1 : 1;
  });
  const byChain = new Map<string, ReadSegmentManifest[]>();
  for (const s of sorted) {
    const list = byChain.get(s.manifest.chainId) ?? [];
    list.push(s);
    byChain.set(s.manifest.chainId, list);
  }
  const chains: ChainSummary[] = [];
  for (const [chainId, list] of byChain) {
    const head = list[0]!.manifest;
    const start = firstWritableRevision(rev(head.chainStartRevision));
    const pruned = prunedThrough !== null && rev(head.firstRevision) - 1n <= prunedThrough;
    if ((head.prevSha256 !== null || rev(head.firstRevision) !== start) && !pruned)
      problems.push({
        code: 'chain-start-missing',
        revision: start,
        key: list[0]!.key,
        message: `chain ${chainId} starts at revision ${start}, but its first segment present, ${list[0]!.key}, ${head.prevSha256 !== null ? 'names a predecessor that is missing' : `starts at ${head.firstRevision}`}`,
      });
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      const expected = rev(prev.manifest.lastRevision) + 1n;
      const first = rev(cur.manifest.firstRevision);
      if (first > expected)
        problems.push({
          code: 'revision-gap',
          revision: expected,
          lastRevision: first - 1n,
          key: cur.key,
          message: `chain ${chainId}: revisions ${expected}..${first - 1n} are missing between ${prev.key} and ${cur.key}`,
        });
      else if (first < expected)
        problems.push({
          code: 'revision-overlap',
          revision: first,
          key: cur.key,
          message: `chain ${chainId}: ${cur.key} starts at ${first}, inside ${prev.key} (which ends at ${prev.manifest.lastRevision})`,
        });
      if (cur.manifest.prevSha256 !== prev.sha256)
        problems.push({
          code: 'chain-broken',
          revision: first,
          key: cur.key,
          message: `chain ${chainId}: ${cur.key} names a previous manifest of sha256 ${cur.manifest.prevSha256 ?? 'null (a chain start)'}, but ${prev.key} has sha256 ${prev.sha256} (a segment was replaced, edited or removed)`,
        });
    }
    const tail = list[list.length - 1]!.manifest;
    chains.push({
      chainId,
      startRevision: start,
      firstRevision: rev(head.firstRevision),
      lastRevision: rev(tail.lastRevision),
      segments: list.length,
      firstTime: head.firstTime,
      lastTime: tail.lastTime,
    });
  }
  chains.sort((a, b) => (a.firstRevision < b.firstRevision ? -1 : a.firstRevision > b.firstRevision ? 1 : 0));
  for (const g of gaps)
    problems.push({
      code: 'gap',
      revision: rev(g.record.lostFrom),
      ...(g.record.resumedFrom !== null && rev(g.record.resumedFrom) > rev(g.record.lostFrom)
        ? { lastRevision: rev(g.record.resumedFrom) - 1n }
        : {}),
      key: g.key,
      message: `gap (${g.record.cause}) from revision ${g.record.lostFrom}${g.record.resumedFrom ? `, the log resumes at ${g.record.resumedFrom}` : ''}, detected ${g.record.detectedAt}: ${g.record.message}`,
    });
  for (let i = 1; i < chains.length; i++) {
    const a = chains[i - 1]!;
    const b = chains[i]!;
    const missingFrom = a.lastRevision + 1n;
    if (b.firstRevision <= missingFrom) continue;
    const recorded = gaps.some((g) => {
      const lost = rev(g.record.lostFrom);
      return lost >= missingFrom && lost < b.firstRevision;
    });
    if (!recorded)
      problems.push({
        code: 'unrecorded-gap',
        revision: missingFrom,
        lastRevision: b.firstRevision - 1n,
        message: `revisions ${missingFrom}..${b.firstRevision - 1n} are in no segment between chain ${a.chainId} and chain ${b.chainId}, and no gap record says why`,
      });
  }
  problems.sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  return { chains, problems };
}

/**
 * etcd's store begins at revision 1 with nothing in it; its first write is revision 2. A chain that starts
 * at 1 (after a backup of an empty cluster, whose snapshot says revision 0 or 1) has its first record at 2.
 */
export function firstWritableRevision(start: bigint): bigint {
  return start < 2n ? 2n : start;
}

/** Whether a problem concerns revisions between `from` and `to` (either open). */
export function problemInRange(p: LogProblem, from?: bigint, to?: bigint): boolean {
  const last = p.lastRevision ?? p.revision;
  return (from === undefined || last >= from) && (to === undefined || p.revision <= to);
}
