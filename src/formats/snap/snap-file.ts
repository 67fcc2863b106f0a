/**
 * A `.snap` file (docs/format.md §3): one snappb.Snapshot {crc = CRC32C(data) seeded with 0,
 * data = raftpb.Snapshot}. Bytes in, a result out; never throws. `problems` uses the same codes as the audit findings.
 */
import { crc32c } from '@node-rs/crc32';
import { T, strictDecode } from '../raft/proto.js';
import { decodeRaftSnapshot, type RaftSnapshot } from '../raft/raft-messages.js';

export type SnapProblemCode = 'SNAP_EMPTY' | 'SNAP_DECODE' | 'SNAP_CRC_MISMATCH' | 'SNAP_RAFT_DECODE';

export interface SnapFileResult {
  /** crc as stored, and as computed over the data */
  storedCrc?: number;
  computedCrc?: number;
  snapshot?: RaftSnapshot;
  problems: { code: SnapProblemCode; message: string }[];
}

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export function decodeSnapFile(bytes: Buffer): SnapFileResult {
  const problems: SnapFileResult['problems'] = [];
  if (bytes.length === 0) return { problems: [{ code: 'SNAP_EMPTY', message: 'the file is empty' }] };
  let crc: number;
  let data: Buffer | undefined;
  try {
    const m = strictDecode(T.snapSnapshot, bytes) as unknown as { crc?: number; data?: Uint8Array };
    crc = (m.crc ?? 0) >>> 0;
    data =
      m.data && m.data.length > 0
        ? Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength)
        : undefined;
  } catch (err) {
    return {
      problems: [{ code: 'SNAP_DECODE', message: `not a snappb.Snapshot: ${(err as Error).message}` }],
    };
  }
  if (!data || crc === 0) {
    // etcd: ErrEmptySnapshot
    problems.push({
      code: 'SNAP_EMPTY',
      message: !data ? 'the snapshot holds no data' : 'the stored crc is 0 (etcd treats the file as empty)',
    });
    if (!data) return { storedCrc: crc, problems };
  }
  const computed = crc32c(data) >>> 0;
  if (crc !== 0 && computed !== crc)
    problems.push({
      code: 'SNAP_CRC_MISMATCH',
      message: `crc mismatch: stored ${hex(crc)}, data gives ${hex(computed)}`,
    });
  let snapshot: RaftSnapshot | undefined;
  try {
    snapshot = decodeRaftSnapshot(data);
  } catch (err) {
    problems.push({
      code: 'SNAP_RAFT_DECODE',
      message: `the data is not a raftpb.Snapshot: ${(err as Error).message}`,
    });
  }
  return { storedCrc: crc, computedCrc: computed, ...(snapshot ? { snapshot } : {}), problems };
}
