/** walpb.Record types (docs/format.md §2.3). Any other value makes etcd's ReadAll fail with "unexpected block type". */
export const WalRecordType = { Metadata: 1, Entry: 2, State: 3, Crc: 4, Snapshot: 5 } as const;

export const WAL_RECORD_TYPE_NAMES: Record<number, string> = {
  1: 'metadata',
  2: 'entry',
  3: 'state',
  4: 'crc',
  5: 'snapshot',
};

/** 3.4.10+ refuses records of 10 MiB - padBytes or more ("max entry size limit exceeded"). */
export const MAX_WAL_RECORD_BYTES = 10 * 1024 * 1024;

/** etcd cuts a segment once its write offset reaches this many bytes (decimal, not MiB). */
export const WAL_SEGMENT_SIZE_BYTES = 64_000_000;

export const SECTOR_BYTES = 512;
