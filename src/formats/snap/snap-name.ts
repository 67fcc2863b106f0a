/**
 * Snap file names (docs/format.md §3): `%016x-%016x.snap` = <term>-<index>.snap. etcd loads them newest
 * first (reverse lexical order) and renames one that fails to load to `<name>.broken`. `%016x.snap.db` files
 * are whole bbolt backends received from a leader, named by the snapshot index.
 */
export interface SnapName {
  name: string;
  term: bigint;
  index: bigint;
}

const SNAP_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const SNAP_DB_NAME = /^([0-9a-f]{16})\.snap\.db$/;

export function parseSnapName(name: string): SnapName | undefined {
  const m = SNAP_NAME.exec(name);
  if (!m) return undefined;
  return { name, term: BigInt(`0x${m[1]}`), index: BigInt(`0x${m[2]}`) };
}

export function formatSnapName(term: bigint, index: bigint): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

export function parseSnapDbName(name: string): { name: string; index: bigint } | undefined {
  const m = SNAP_DB_NAME.exec(name);
  return m ? { name, index: BigInt(`0x${m[1]}`) } : undefined;
}
