/**
 * WAL segment names (docs/format.md §2.1): `%016x-%016x.wal` = <seq>-<index>.wal, lowercase hex, zero-padded.
 * seq counts segments up from 0 with no gaps; index is the raft index expected for the segment's first
 * entry. etcd ignores any other `*.wal` name (with a warning).
 */
export interface WalSegmentName {
  name: string;
  seq: bigint;
  index: bigint;
}

const WAL_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

export function parseWalName(name: string): WalSegmentName | undefined {
  const m = WAL_NAME.exec(name);
  if (!m) return undefined;
  return { name, seq: BigInt(`0x${m[1]}`), index: BigInt(`0x${m[2]}`) };
}

export function formatWalName(seq: bigint, index: bigint): string {
  return `${seq.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.wal`;
}

export interface WalNameIssue {
  kind: 'invalid-name' | 'seq-gap' | 'seq-duplicate' | 'index-order';
  name: string;
  message: string;
  /** for seq-gap: the missing seq numbers (first..last) */
  missing?: { from: bigint; to: bigint };
}

/**
 * Sorts the directory's `*.wal` names the way etcd does (lexically) and checks the sequence rules:
 * valid names, consecutive seq numbers, and non-decreasing start indexes. Other files are not looked at.
 */
export function checkWalNames(names: readonly string[]): {
  segments: WalSegmentName[];
  issues: WalNameIssue[];
} {
  const issues: WalNameIssue[] = [];
  const segments: WalSegmentName[] = [];
  for (const name of [...names].filter((n) => n.endsWith('.wal')).sort()) {
    const parsed = parseWalName(name);
    if (parsed) segments.push(parsed);
    else
      issues.push({
        kind: 'invalid-name',
        name,
        message: `wal: ${name} is not named <seq>-<index>.wal (16 hex digits each); etcd ignores it`,
      });
  }
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1]!;
    const cur = segments[i]!;
    if (cur.seq === prev.seq)
      issues.push({
        kind: 'seq-duplicate',
        name: cur.name,
        message: `wal: ${cur.name} repeats segment seq ${cur.seq} of ${prev.name}`,
      });
    else if (cur.seq !== prev.seq + 1n)
      issues.push({
        kind: 'seq-gap',
        name: cur.name,
        missing: { from: prev.seq + 1n, to: cur.seq - 1n },
        message: `wal: segment seq jumps from ${prev.seq} (${prev.name}) to ${cur.seq} (${cur.name}); segments ${prev.seq + 1n}..${cur.seq - 1n} are missing`,
      });
    if (cur.index < prev.index)
      issues.push({
        kind: 'index-order',
        name: cur.name,
        message: `wal: ${cur.name} starts at raft index ${cur.index}, before ${prev.name} (index ${prev.index})`,
      });
  }
  return { segments, issues };
}
