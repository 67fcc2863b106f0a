/**
 * Every finding code `dr audit` can emit, with its severity and the runbook section that says what to do.
 * runbooks/README.md renders this table for people; test/audit/runbook-links.test.ts keeps the two, the
 * codes used in the audit sources and the runbook headings in step.
 *
 * The WAL, snap and db audits own their codes (src/audit/wal, src/audit/snap, src/audit/db/codes.ts); they
 * are repeated here so one place lists them all. A few codes change severity with context: those list both.
 */
import type { Finding, Severity } from './finding.js';
import { DB_CODES } from './db/codes.js';

export interface CodeInfo {
  severity: Severity | readonly Severity[];
  /** runbooks/<file>.md#<anchor> */
  runbook: string;
  summary: string;
}

const WAL = 'runbooks/corrupt-wal.md';
const SNAP = 'runbooks/corrupt-snap.md';
const DB = 'runbooks/corrupt-db.md';
const HASH = 'runbooks/hash-divergence.md';
const ALARMS = 'runbooks/alarms.md';

const c = (severity: CodeInfo['severity'], runbook: string, summary: string): CodeInfo => ({
  severity,
  runbook,
  summary,
});

export const WAL_CODES = {
  WAL_DIR_EMPTY: c('error', `${WAL}#missing-segment`, 'no WAL segment at all'),
  WAL_SEGMENT_UNREADABLE: c('error', `${WAL}#missing-segment`, 'a segment cannot be read'),
  WAL_SEQ_GAP: c('error', `${WAL}#missing-segment`, 'segment sequence numbers skip: a segment is missing'),
  WAL_NAME_INVALID: c('warning', `${WAL}#misnamed-segment`, 'a *.wal file not named <seq>-<index>.wal'),
  WAL_SEQ_DUPLICATE: c('error', `${WAL}#misnamed-segment`, 'two segments with one sequence number'),
  WAL_NAME_INDEX_ORDER: c('error', `${WAL}#misnamed-segment`, 'segment names out of raft-index order'),
  WAL_NAME_INDEX_MISMATCH: c('error', `${WAL}#misnamed-segment`, 'a segment name does not match its entries'),
  WAL_SEGMENT_EMPTY: c('error', `${WAL}#corrupt-record`, 'a segment holds no record'),
  WAL_SEGMENT_NO_CRC_RECORD: c(
    'error',
    `${WAL}#corrupt-record`,
    'a segment does not start with a crc record',
  ),
  WAL_SEGMENT_NO_METADATA: c('error', `${WAL}#corrupt-record`, 'the second record is not metadata'),
  WAL_LENGTH_INVALID: c('error', `${WAL}#corrupt-record`, 'a frame length field is not canonical'),
  WAL_RECORD_TOO_LARGE: c('error', `${WAL}#corrupt-record`, 'a frame claims an impossible length'),
  WAL_RECORD_DECODE: c('error', `${WAL}#corrupt-record`, 'a record does not decode'),
  WAL_CRC_MISMATCH: c('error', `${WAL}#corrupt-record`, "a record's CRC does not match its data"),
  WAL_RECORD_TYPE_UNKNOWN: c('error', `${WAL}#corrupt-record`, 'a record type etcd does not know'),
  WAL_PAYLOAD_DECODE: c(
    'error',
    `${WAL}#corrupt-record`,
    'an entry, state, snapshot or metadata payload does not decode',
  ),
  WAL_NO_HARDSTATE: c('warning', `${WAL}#corrupt-record`, 'entries but no HardState record'),
  WAL_PADDING_NONZERO: c('warning', `${WAL}#nonzero-padding`, 'frame padding bytes are not zero'),
  WAL_CRC_CHAIN_BROKEN: c(
    'error',
    `${WAL}#crc-chain-broken`,
    'the rolling CRC does not continue across segments',
  ),
  WAL_METADATA_CONFLICT: c(
    'error',
    `${WAL}#metadata-conflict`,
    'segments carry different metadata (node/cluster)',
  ),
  WAL_SEGMENT_TRUNCATED: c('error', `${WAL}#truncated-segment`, 'a sealed segment ends inside a record'),
  WAL_SEGMENT_ENDS_EARLY: c(
    'error',
    `${WAL}#truncated-segment`,
    'a sealed segment ends with zeros before EOF',
  ),
  WAL_TORN_TAIL: c(
    'warning',
    `${WAL}#torn-tail`,
    'the last record of the last segment is torn (etcd repairs it)',
  ),
  WAL_TAIL_NOT_ZERO: c('warning', `${WAL}#torn-tail`, 'non-zero bytes after the end of the last segment'),
  WAL_BROKEN_COPY: c('info', `${WAL}#torn-tail`, 'a *.wal.broken copy from an earlier repair'),
  WAL_TMP_SEGMENT: c('info', `${WAL}#torn-tail`, 'a preallocated *.tmp segment'),
  WAL_ZEROED_SECTOR: c('error', `${WAL}#zeroed-sector`, 'a zeroed sector inside a record before the tail'),
  WAL_RECORDS_AFTER_END: c('error', `${WAL}#records-after-end`, 'valid records after the end of data'),
  WAL_INDEX_GAP: c('error', `${WAL}#index-gap`, 'raft entry indexes skip'),
  WAL_TERM_DECREASE: c('error', `${WAL}#index-gap`, 'an entry term lower than the one before it'),
  WAL_TERM_AHEAD: c('error', `${WAL}#index-gap`, 'an entry term above the last HardState term'),
  WAL_STATE_TERM_BEHIND: c(
    'error',
    `${WAL}#corrupt-record`,
    'a HardState whose term is below an entry written before it',
  ),
  WAL_COMMIT_BEYOND_LOG: c('error', `${WAL}#index-gap`, 'HardState.commit beyond the last entry'),
} as const satisfies Record<string, CodeInfo>;

export const SNAP_CODES = {
  SNAP_EMPTY: c('error', `${SNAP}#bad-crc`, 'an empty snap file or empty data'),
  SNAP_DECODE: c('error', `${SNAP}#bad-crc`, 'a snap file that is not a snappb.Snapshot'),
  SNAP_CRC_MISMATCH: c('error', `${SNAP}#bad-crc`, "a snap file's CRC does not match"),
  SNAP_RAFT_DECODE: c('error', `${SNAP}#bad-crc`, 'the raft snapshot inside does not decode'),
  SNAP_V2_JSON_INVALID: c('error', `${SNAP}#bad-crc`, 'the v2 store JSON is missing or invalid'),
  SNAP_UNREADABLE: c('error', `${SNAP}#bad-crc`, 'a snap file cannot be read'),
  SNAP_NAME_MISMATCH: c('error', `${SNAP}#bad-snap-name`, 'the name does not match term/index inside'),
  SNAP_NAME_INVALID: c('warning', `${SNAP}#bad-snap-name`, 'a *.snap file not named <term>-<index>.snap'),
  SNAP_BROKEN_FILE: c('warning', `${SNAP}#broken-snap-file`, 'a *.snap.broken file etcd set aside'),
  SNAP_DEFRAG_LEFTOVER: c('info', `${SNAP}#defrag-leftover`, 'a db.tmp.* file from a defragmentation'),
  SNAP_MEMBERS_MISMATCH: c(
    'warning',
    `${SNAP}#members-mismatch`,
    'v2 store members differ from the ConfState',
  ),
  WAL_NODE_NOT_MEMBER: c('warning', `${SNAP}#members-mismatch`, "the WAL's node is not in the membership"),
  SNAP_CONFSTATE_MISMATCH: c(
    'error',
    `${SNAP}#members-mismatch`,
    'snap file and WAL record disagree on voters',
  ),
  SNAP_TERM_MISMATCH: c('error', `${SNAP}#missing-snap-file`, 'snap file and WAL record disagree on term'),
  WAL_SNAPSHOT_FILE_MISSING: c(
    ['error', 'warning'],
    `${SNAP}#missing-snap-file`,
    'a WAL snapshot record without its snap file (warning when etcd can fall back)',
  ),
  SNAP_ORPHAN: c('info', `${SNAP}#orphan-snap-file`, 'a snap file newer than every WAL snapshot record'),
} as const satisfies Record<string, CodeInfo>;

/** db <-> WAL <-> snap cross-checks of a data dir (cross-checks.ts) */
export const CROSS_CODES = {
  DB_MISSING: c('error', `${DB}#restore-from-backup`, 'member/snap/db is missing'),
  DB_UNREADABLE: c('error', `${DB}#restore-from-backup`, 'member/snap/db cannot be opened'),
  CROSS_INDEX_BEHIND_SNAPSHOT: c(
    'error',
    `${DB}#consistent-index`,
    'db consistent_index below the snapshot index and no .snap.db to catch up from',
  ),
  CROSS_INDEX_BEYOND_COMMIT: c(
    'error',
    `${DB}#consistent-index`,
    'db consistent_index above the WAL commit index',
  ),
  CROSS_TERM_AHEAD: c('error', `${DB}#consistent-index`, 'db term above the WAL HardState term (3.5)'),
  CROSS_SNAP_DB_PENDING: c(
    'info',
    `${SNAP}#snap-db`,
    'a .snap.db from the leader that etcd swaps in at the next start',
  ),
  CROSS_SNAP_DB_LEFTOVER: c('info', `${SNAP}#snap-db`, 'a .snap.db the db has already moved past'),
  CROSS_MEMBERS_STALE: c(
    'info',
    `${DB}#members`,
    'members bucket differs from the raft membership in a 3.4 db (expected after a 3.4 restore)',
  ),
  CROSS_MEMBERS_MISMATCH: c(
    'warning',
    `${DB}#members`,
    'members bucket differs from the raft membership (3.5+)',
  ),
} as const satisfies Record<string, CodeInfo>;

/** snapshot files and backups */
export const SNAPSHOT_CODES = {
  SNAPSHOT_TRAILER_MISMATCH: c(
    'error',
    `${DB}#trailer`,
    'the 32-byte sha256 trailer does not match the db bytes',
  ),
  SNAPSHOT_NO_TRAILER: c(
    'info',
    `${DB}#trailer`,
    'no sha256 trailer (a raw db, not `etcdctl snapshot save`)',
  ),
  SNAPSHOT_STATUS_FAILED: c('error', `${DB}#tree-pages`, '`snapshot status` would fail on this file'),
  BACKUP_FETCH_FAILED: c('error', `${DB}#backup-mismatch`, 'the stored backup does not match its manifest'),
  BACKUP_HASH_MISMATCH: c('error', `${DB}#backup-mismatch`, 'snapshot hash differs from the manifest'),
  BACKUP_REVISION_MISMATCH: c(
    'error',
    `${DB}#backup-mismatch`,
    'snapshot revision differs from the manifest',
  ),
  BACKUP_TOTAL_KEYS_MISMATCH: c(
    'error',
    `${DB}#backup-mismatch`,
    'snapshot key count differs from the manifest',
  ),
  BACKUP_CLUSTER_HASH_MISMATCH: c(
    'error',
    `${DB}#backup-vs-cluster`,
    "a member's HashKV at the backup's revision differs from the backup's",
  ),
  BACKUP_CLUSTER_NOT_COMPARED: c(
    'warning',
    `${DB}#backup-vs-cluster`,
    "the backup's HashKV cannot be compared with a member's (compacted, unreachable, ...)",
  ),
} as const satisfies Record<string, CodeInfo>;

/** the online audit (online.ts) */
export const ONLINE_CODES = {
  CLUSTER_UNREACHABLE: c('error', `${ALARMS}#unreachable-member`, 'no endpoint answered'),
  MEMBER_UNREACHABLE: c('error', `${ALARMS}#unreachable-member`, 'an endpoint or member does not answer'),
  MEMBER_NO_LEADER: c('error', `${ALARMS}#no-leader`, 'a member sees no leader'),
  LEADER_DISAGREEMENT: c('error', `${ALARMS}#no-leader`, 'members name different leaders'),
  RAFT_TERM_MISMATCH: c('warning', `${ALARMS}#no-leader`, 'members are at different raft terms'),
  MEMBER_LAGGING: c('warning', `${ALARMS}#no-leader`, "a member's raft index is far behind the others"),
  MEMBER_ERRORS: c('warning', `${ALARMS}#unreachable-member`, 'a member reports errors in its status'),
  CLUSTER_ID_MISMATCH: c('error', `${ALARMS}#endpoint-not-member`, 'an endpoint belongs to another cluster'),
  ENDPOINT_NOT_MEMBER: c('error', `${ALARMS}#endpoint-not-member`, 'an endpoint is not in the member list'),
  MEMBER_NOT_AUDITED: c(
    'warning',
    `${ALARMS}#endpoint-not-member`,
    'a member is not among the endpoints given',
  ),
  MEMBER_NOT_STARTED: c('warning', `${ALARMS}#unreachable-member`, 'a member was added but never started'),
  DB_SIZE_NEAR_QUOTA: c('warning', `${ALARMS}#db-size`, 'db size above 80% of the quota'),
  DB_SIZE_OVER_QUOTA: c('error', `${ALARMS}#nospace`, 'db size at or above the quota'),
  DB_FRAGMENTED: c('info', `${ALARMS}#db-size`, 'more than half of the db file is free space'),
  ALARM_NOSPACE: c('error', `${ALARMS}#nospace`, 'a NOSPACE alarm is raised: the cluster refuses writes'),
  ALARM_CORRUPT: c('error', `${ALARMS}#corrupt`, 'a CORRUPT alarm is raised'),
  ALARM_OTHER: c('warning', `${ALARMS}#corrupt`, 'an alarm of an unknown type is raised'),
  HASH_DIVERGENCE: c(
    'error',
    `${HASH}#divergence`,
    'members hash their key space differently at one revision',
  ),
  HASH_COMPACT_DIFFERS: c('warning', `${HASH}#compact-differs`, 'members report different compact revisions'),
  HASHKV_FAILED: c('warning', `${HASH}#hashkv-failed`, 'HashKV could not be asked of a member'),
} as const satisfies Record<string, CodeInfo>;

const dbCatalogue: Record<string, CodeInfo> = Object.fromEntries(
  Object.entries(DB_CODES).map(([code, v]) => [code, c(v.severity, v.runbook, dbSummary(code))]),
);

function dbSummary(code: string): string {
  return code.slice(3).toLowerCase().replaceAll('_', ' ');
}

export const AUDIT_CODES: Record<string, CodeInfo> = {
  ...WAL_CODES,
  ...SNAP_CODES,
  ...dbCatalogue,
  ...CROSS_CODES,
  ...SNAPSHOT_CODES,
  ...ONLINE_CODES,
};

export type CrossCode = keyof typeof CROSS_CODES;
export type SnapshotCode = keyof typeof SNAPSHOT_CODES;
export type OnlineCode = keyof typeof ONLINE_CODES;

/** A finding for one of this module's codes, with the catalogue's severity (or `severity`) and runbook. */
export function finding(
  code: CrossCode | SnapshotCode | OnlineCode,
  message: string,
  where: { file?: string; location?: Finding['location']; severity?: Severity } = {},
): Finding {
  const info: CodeInfo = AUDIT_CODES[code]!;
  const severity = where.severity ?? (typeof info.severity === 'string' ? info.severity : info.severity[0]!);
  return {
    severity,
    code,
    ...(where.file !== undefined ? { file: where.file } : {}),
    ...(where.location ? { location: where.location } : {}),
    message,
    runbook: info.runbook,
  };
}

/** The severities a code may carry, as a list. */
export function severitiesOf(code: string): readonly Severity[] {
  const s = AUDIT_CODES[code]?.severity;
  return s === undefined ? [] : typeof s === 'string' ? [s] : s;
}
