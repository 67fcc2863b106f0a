/**
 * The continuity check (src/revlog/chain-check.ts, docs/revision-log.md §4) on hand-made manifests, and
 * the log's keys (layout.ts): every problem is found and named, none stops the check.
 */
import { describe, expect, it } from 'vitest';
import { checkChains, problemInRange } from '../../src/revlog/chain-check.js';
import type { GapRecord } from '../../src/revlog/gap.js';
import { gapKey, parseLogKey, segmentDataKey, segmentManifestKey } from '../../src/revlog/layout.js';
import {
  segmentKeyMismatch,
  segmentManifestBytes,
  sha256Hex,
  type ReadSegmentManifest,
  type SegmentManifest,
} from '../../src/revlog/segment-manifest.js';

const sha = (c: string) => c.repeat(64);

function segment(
  chainId: string,
  start: bigint,
  first: bigint,
  last: bigint,
  prev: string | null,
): ReadSegmentManifest {
  const m: SegmentManifest = {
    formatVersion: 1,
    kind: 'revlog-segment',
    clusterName: 'prod',
    chainId,
    chainStartRevision: start.toString(),
    prevSha256: prev,
    firstRevision: first.toString(),
    lastRevision: last.toString(),
    firstTime: '2026-12-03T10:00:00.000Z',
    lastTime: '2026-12-03T10:00:05.000Z',
    revisionCount: Number(last - first + 1n),
    eventCount: Number(last - first + 1n),
    source: { endpoint: 'http://127.0.0.1:2379', memberId: 'abc' },
    plain: { formatVersion: 1, size: 100, sha256: sha('a') },
    stored: {
      key: segmentDataKey('prod', first, last, false),
      size: 50,
      sha256: sha('b'),
      compression: 'zstd',
      encryption: null,
    },
    checkpoints: [],
    leases: [],
    createdAt: '2026-12-03T10:00:05.000Z',
    tool: { name: 'etcd-dr', version: '0.1.0' },
  };
  return {
    key: segmentManifestKey('prod', first, last),
    manifest: m,
    sha256: sha256Hex(segmentManifestBytes(m)),
  };
}

/** a chain of segments [first, last] linked properly */
function chain(id: string, ranges: [bigint, bigint][]): ReadSegmentManifest[] {
  const out: ReadSegmentManifest[] = [];
  for (const [first, last] of ranges)
    out.push(segment(id, ranges[0]![0], first, last, out.at(-1)?.sha256 ?? null));
  return out;
}

const gap = (lostFrom: bigint, resumedFrom: bigint): { key: string; record: GapRecord } => ({
  key: gapKey('prod', lostFrom, new Date('2026-12-03T11:00:00Z')),
  record: {
    formatVersion: 1,
    kind: 'revlog-gap',
    clusterName: 'prod',
    cause: 'resume-compacted',
    lostFrom: lostFrom.toString(),
    resumedFrom: resumedFrom.toString(),
    compactRevision: (resumedFrom - 1n).toString(),
    previousChainId: 'A',
    newChainId: 'B',
    detectedAt: '2026-12-03T11:00:00.000Z',
    message: 'compacted',
  },
});

describe('revision log continuity', () => {
  it('accepts linked chains, and names the gap between two chains by its record', () => {
    const a = chain('A', [
      [10n, 19n],
      [20n, 20n],
      [21n, 40n],
    ]);
    const b = chain('B', [[50n, 60n]]);
    const r = checkChains([...b, ...a].reverse(), [gap(41n, 50n)]);
    expect(r.chains.map((c) => [c.chainId, c.firstRevision, c.lastRevision, c.segments])).toEqual([
      ['A', 10n, 40n, 3],
      ['B', 50n, 60n, 1],
    ]);
    expect(r.problems.map((p) => [p.code, p.revision, p.lastRevision])).toEqual([['gap', 41n, 49n]]);
  });

  it('finds a broken link, missing and overlapping revisions, a missing chain start and an unrecorded gap', () => {
    const a = chain('A', [
      [10n, 19n],
      [20n, 29n],
      [30n, 39n],
    ]);
    // the middle segment's manifest edited: the next one's link breaks
    a[1] = { ...a[1]!, sha256: sha('f') };
    const b = chain('B', [
      [45n, 50n],
      [51n, 60n],
    ]).slice(1); // its first segment is gone
    const c = chain('C', [
      [70n, 80n],
      [85n, 90n],
    ]); // revisions 81..84 missing
    const d = chain('D', [
      [100n, 110n],
      [105n, 120n],
    ]); // overlap
    const r = checkChains([...a, ...b, ...c, ...d], []);
    expect(r.problems.map((p) => [p.code, p.revision])).toEqual([
      ['chain-broken', 30n],
      ['unrecorded-gap', 40n],
      ['chain-start-missing', 45n],
      ['unrecorded-gap', 61n],
      ['revision-gap', 81n],
      ['unrecorded-gap', 91n],
      ['revision-overlap', 105n],
    ]);
    expect(r.problems[0]!.key).toBe(a[2]!.key);
    expect(problemInRange(r.problems[4]!, 82n, 83n)).toBe(true);
    expect(problemInRange(r.problems[4]!, 85n)).toBe(false);
    expect(problemInRange(r.problems[4]!, undefined, 80n)).toBe(false);
  });

  it("a chain from an empty cluster's backup starts at revision 1, its first write at 2: continuous; 3 is not", () => {
    expect(checkChains([segment('c', 1n, 2n, 9n, null)], []).problems).toEqual([]);
    expect(checkChains([segment('c', 1n, 3n, 9n, null)], []).problems.map((p) => p.code)).toEqual([
      'chain-start-missing',
    ]);
  });

  it('parses only its own keys, and a manifest must match its key', () => {
    expect(parseLogKey(segmentManifestKey('prod', 7n, 12n))).toEqual({
      kind: 'segment-manifest',
      cluster: 'prod',
      first: 7n,
      last: 12n,
    });
    expect(segmentDataKey('prod', 7n, 12n, true)).toBe(
      'prod/log/00000000000000000007-00000000000000000012.log.zst.age',
    );
    expect(parseLogKey(segmentDataKey('prod', 7n, 12n, true))?.kind).toBe('segment-data');
    expect(parseLogKey(gapKey('prod', 41n, new Date('2026-12-03T11:00:00.123Z')))).toEqual({
      kind: 'gap',
      cluster: 'prod',
      lostFrom: 41n,
    });
    for (const k of [
      'prod/log/7-12.manifest.json',
      'prod/20261121T060500Z-97eef887.manifest.json',
      'prod/log/x/00000000000000000007-00000000000000000012.log.zst',
      `${segmentDataKey('prod', 7n, 12n, false)}.tmp-0123456789abcdef`,
    ])
      expect(parseLogKey(k)).toBeNull();
    const s = segment('A', 7n, 7n, 12n, null);
    expect(segmentKeyMismatch(s.manifest, s.key)).toBeNull();
    expect(segmentKeyMismatch(s.manifest, segmentManifestKey('other', 7n, 12n))?.field).toBe('clusterName');
    expect(segmentKeyMismatch(s.manifest, segmentManifestKey('prod', 7n, 13n))?.field).toBe('lastRevision');
    expect(
      segmentKeyMismatch(
        { ...s.manifest, stored: { ...s.manifest.stored, key: 'prod/20261121T060500Z-97eef887.db.zst' } },
        s.key,
      )?.field,
    ).toBe('stored.key');
    // an encrypted manifest must name the .age key
    const enc = {
      ...s.manifest.stored,
      encryption: { scheme: 'age-encryption.org/v1' as const, recipients: ['0123456789abcdef'] },
    };
    expect(segmentKeyMismatch({ ...s.manifest, stored: enc }, s.key)?.field).toBe('stored.key');
  });
});
