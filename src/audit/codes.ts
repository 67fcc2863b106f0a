/**
 * Every finding code `dr audit` can emit, with its severity and the runbook section that says what to do.
 * runbooks/README.md renders this table for people; test/audit/runbook-links.test.ts keeps the two, the
 * codes used in the audit sources and the runbook headings in step.
 *
 * The WAL, snap and db audits own their codes (src/audit/wal, src/audit/snap, src/audit/db/codes.ts); they
 * are repeated here so one place lists them all. A few codes change severity with context: those list both.
 *
 * Over 400 lines on purpose: a catalogue, one entry per finding code; one place lists them all.
 */
import type { Finding, Severity } from './finding.js';
import { DB_CODES } from './db/codes.js';

/**
 * What etcd itself does with data that carries a finding, which decides the severity:
 * error = refuses-to-start, loses-committed-data or serves-wrong-data; warning = repairs or falls-back
 * (or ignores damage that is still worth a look), keeps-alarm (starts, serves every key, raises a saved
 * alarm again) or stops-as-removed (applies its own removal from the cluster and stops: the cluster holds
 * the data, the dir is a leftover); info = normal (a state of a live or cleanly stopped member) or ignores.
 */
export type EtcdBehaviour =
  | 'refuses-to-start'
  | 'loses-committed-data'
  | 'serves-wrong-data'
  | 'repairs'
  | 'falls-back'
  | 'ignores'
  | 'keeps-alarm'
  | 'stops-as-removed'
  | 'normal';

export const SEVERITY_OF_BEHAVIOUR: Record<EtcdBehaviour, readonly Severity[]> = {
  'refuses-to-start': ['error'],
  'loses-committed-data': ['error'],
  'serves-wrong-data': ['error'],
  repairs: ['warning'],
  'falls-back': ['warning'],
  ignores: ['warning', 'info'],
  'keeps-alarm': ['warning'],
  'stops-as-removed': ['warning'],
  normal: ['info'],
};

export interface EtcdRule {
  /** per severity the code is emitted with */
  does: Partial<Record<Severity, EtcdBehaviour>>;
  /**
   * How we know: `test: <title words>` names the test in test/audit/etcd-behaviour.test.ts,
   * test/audit/etcd-behaviour-states.test.ts (or the live-member tests in test/audit/live-members.test.ts)
   * that hands such bytes from a real member to a real etcd;
   * `not from etcd: <why>` says why a real member never writes such data (only damage or another tool does).
   */
  evidence: string;
}

export interface CodeInfo {
  severity: Severity | readonly Severity[];
  /** runbooks/<file>.md#<anchor> */
  runbook: string;
  summary: string;
  /** data-dir codes (WAL, snap, db, cross-checks): what etcd does with such data */
  etcd?: EtcdRule;
}

const WAL = 'runbooks/corrupt-wal.md';
const SNAP = 'runbooks/corrupt-snap.md';
const DB = 'runbooks/corrupt-db.md';
const HASH = 'runbooks/hash-divergence.md';
const ALARMS = 'runbooks/alarms.md';

const c = (severity: CodeInfo['severity'], runbook: string, summary: string, etcd?: EtcdRule): CodeInfo => ({
  severity,
  runbook,
  summary,
  ...(etcd ? { etcd } : {}),
});

/** a rule for a code emitted with one severity */
const does = (b: EtcdBehaviour, evidence: string): EtcdRule => ({
  does: Object.fromEntries(SEVERITY_OF_BEHAVIOUR[b].map((sev) => [sev, b])),
  evidence,
});
const DAMAGE = 'not from etcd: only damage to the file (disk, filesystem, a tool) makes it';
const WAL_DAMAGE = `${DAMAGE}; etcd writes each frame whole, CRC-chained, and never rewrites a sealed segment`;

export const WAL_CODES = {
  WAL_DIR_EMPTY: c(
    'error',
    `${WAL}#missing-segment`,
    'no WAL segment at all',
    does(
      'loses-committed-data',
      'not from etcd: etcd creates the WAL before anything else and never removes its newest segment; without one it bootstraps as a new member and drops what the WAL held',
    ),
  ),
  WAL_SEGMENT_UNREADABLE: c(
    'error',
    `${WAL}#missing-segment`,
    'a segment cannot be read',
    does(
      'refuses-to-start',
      'not from etcd: a permission or I/O error on the file, etcd fails to open the WAL',
    ),
  ),
  WAL_SEQ_GAP: c(
    'error',
    `${WAL}#missing-segment`,
    'segment sequence numbers skip: a segment is missing',
    does(
      'refuses-to-start',
      'not from etcd: it purges only the oldest segments; with a gap it stops with "wal: file not found"',
    ),
  ),
  WAL_NAME_INVALID: c(
    'warning',
    `${WAL}#misnamed-segment`,
    'a *.wal file not named <seq>-<index>.wal',
    does('ignores', 'not from etcd: it skips files it cannot parse as segments'),
  ),
  WAL_SEQ_DUPLICATE: c(
    'error',
    `${WAL}#misnamed-segment`,
    'two segments with one sequence number',
    does('refuses-to-start', 'not from etcd: it names each new segment seq+1'),
  ),
  WAL_NAME_INDEX_ORDER: c(
    'error',
    `${WAL}#misnamed-segment`,
    'segment names out of raft-index order',
    does('refuses-to-start', 'not from etcd: it names a new segment after the last entry saved'),
  ),
  WAL_NAME_INDEX_MISMATCH: c(
    'error',
    `${WAL}#misnamed-segment`,
    'a segment name does not match its entries',
    does(
      'serves-wrong-data',
      'not from etcd: it names a new segment after the last entry saved; etcd picks where to read from by these names',
    ),
  ),
  WAL_SEGMENT_EMPTY: c(
    ['error', 'warning'],
    `${WAL}#corrupt-record`,
    'a segment holds no record (warning: the last one, all zeros: etcd starts and writes on into it)',
    {
      does: { error: 'refuses-to-start', warning: 'ignores' },
      evidence:
        "test: WAL_SEGMENT_EMPTY (synthetic damage: etcd writes a new segment's crc, metadata and state records and fsyncs them before it renames the segment into place, and creates the WAL in a temporary dir it renames once segment 0 holds its records, so only damage empties a segment; etcd reads a zeroed last segment as the end of the WAL and appends to it); the error case: with segments after it the next crc record breaks the chain (WAL_DAMAGE)",
    },
  ),
  WAL_SEGMENT_NO_CRC_RECORD: c(
    ['error', 'warning'],
    `${WAL}#corrupt-record`,
    'a segment does not start with a crc record (warning: its records continue the CRC chain, etcd wrote them into a zeroed segment)',
    {
      does: { error: 'refuses-to-start', warning: 'ignores' },
      evidence: `${WAL_DAMAGE}; warning: test: WAL_SEGMENT_EMPTY (etcd appends to a zeroed last segment without writing its header records, and reads it back)`,
    },
  ),
  WAL_SEGMENT_NO_METADATA: c(
    'error',
    `${WAL}#corrupt-record`,
    'the second record is not metadata',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_LENGTH_INVALID: c(
    'info',
    `${WAL}#corrupt-record`,
    'a frame length field etcd 3.0+ would not write, which etcd still reads',
    does(
      'ignores',
      'not from etcd: 3.0+ write 0 or 0x80|padding in the top byte (pre-3.0 unpadded frames are read as such and not reported; test: pre-3.0 framing)',
    ),
  ),
  WAL_RECORD_TOO_LARGE: c(
    'error',
    `${WAL}#corrupt-record`,
    'a frame claims an impossible length',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_RECORD_DECODE: c(
    'error',
    `${WAL}#corrupt-record`,
    'a record does not decode',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_CRC_MISMATCH: c(
    'error',
    `${WAL}#corrupt-record`,
    "a record's CRC does not match its data",
    does('refuses-to-start', 'test: WAL_CRC_MISMATCH'),
  ),
  WAL_RECORD_TYPE_UNKNOWN: c(
    'error',
    `${WAL}#corrupt-record`,
    'a record type etcd does not know',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_PAYLOAD_DECODE: c(
    'error',
    `${WAL}#corrupt-record`,
    'an entry, state, snapshot or metadata payload does not decode',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_NO_HARDSTATE: c(
    'warning',
    `${WAL}#corrupt-record`,
    'entries but no HardState record',
    does(
      'falls-back',
      'not from etcd: its first save of entries carries a HardState; etcd starts from commit 0 and replays',
    ),
  ),
  WAL_PADDING_NONZERO: c(
    'warning',
    `${WAL}#nonzero-padding`,
    'frame padding bytes are not zero',
    does('ignores', `${DAMAGE}; etcd skips padding unread`),
  ),
  WAL_CRC_CHAIN_BROKEN: c(
    'error',
    `${WAL}#crc-chain-broken`,
    'the rolling CRC does not continue across segments',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_METADATA_CONFLICT: c(
    'error',
    `${WAL}#metadata-conflict`,
    'segments carry different metadata (node/cluster)',
    does(
      'refuses-to-start',
      'not from etcd: every segment repeats the first one\'s metadata ("wal: conflicting metadata found")',
    ),
  ),
  WAL_SEGMENT_TRUNCATED: c(
    'error',
    `${WAL}#truncated-segment`,
    'a sealed segment ends inside a record',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_SEGMENT_ENDS_EARLY: c(
    'error',
    `${WAL}#truncated-segment`,
    'a sealed segment ends with zeros before EOF',
    does('loses-committed-data', `${WAL_DAMAGE}; etcd skips the rest of the segment`),
  ),
  WAL_TORN_TAIL: c(
    ['warning', 'info'],
    `${WAL}#torn-tail`,
    'the last record of the last segment is torn (etcd repairs it); info while the member runs and writes it',
    { does: { warning: 'repairs', info: 'normal' }, evidence: 'test: WAL_TORN_TAIL' },
  ),
  WAL_TAIL_NOT_ZERO: c(
    ['warning', 'info'],
    `${WAL}#torn-tail`,
    'non-zero bytes after the end of the last segment (info on a running member: a write in progress)',
    {
      does: { warning: 'repairs', info: 'normal' },
      evidence:
        'test: WAL_TAIL_NOT_ZERO (etcd zero-fills them at its next start); info: test: live members (a running member seen mid-write: SIGKILL test, etcd 3.4)',
    },
  ),
  WAL_BROKEN_COPY: c(
    'info',
    `${WAL}#torn-tail`,
    'a *.wal.broken copy from an earlier repair',
    does('normal', 'test: WAL_TORN_TAIL'),
  ),
  WAL_TMP_SEGMENT: c(
    'info',
    `${WAL}#torn-tail`,
    'the preallocated next segment (*.tmp) etcd keeps while it runs',
    does('normal', 'test: live members'),
  ),
  WAL_ZEROED_SECTOR: c(
    'error',
    `${WAL}#zeroed-sector`,
    'a zeroed sector inside a record before the tail',
    does('loses-committed-data', 'test: WAL_ZEROED_SECTOR'),
  ),
  WAL_RECORDS_AFTER_END: c(
    'error',
    `${WAL}#records-after-end`,
    'valid records after the end of data',
    does('loses-committed-data', `${WAL_DAMAGE}; etcd stops reading at the zero length field`),
  ),
  WAL_INDEX_GAP: c(
    'error',
    `${WAL}#index-gap`,
    'raft entry indexes skip',
    does('refuses-to-start', WAL_DAMAGE),
  ),
  WAL_TERM_DECREASE: c(
    'error',
    `${WAL}#index-gap`,
    'an entry term lower than the one before it',
    does('serves-wrong-data', WAL_DAMAGE),
  ),
  WAL_TERM_AHEAD: c(
    'error',
    `${WAL}#index-gap`,
    'an entry term above the last HardState term',
    does(
      'serves-wrong-data',
      'not from etcd: raft persists a new term in the same save as (or before) its first entries',
    ),
  ),
  WAL_STATE_TERM_BEHIND: c(
    'error',
    `${WAL}#corrupt-record`,
    'a HardState whose term is below an entry written before it',
    does('serves-wrong-data', WAL_DAMAGE),
  ),
  WAL_COMMIT_BEYOND_LOG: c(
    'error',
    `${WAL}#index-gap`,
    'HardState.commit beyond the last entry',
    does(
      'refuses-to-start',
      'not from etcd: raft commits only entries it holds ("tocommit is out of range")',
    ),
  ),
} as const satisfies Record<string, CodeInfo>;

const SNAP_DAMAGE_RULE: EtcdRule = {
  // info: a file newer than every WAL snapshot record, which etcd never loads (a crash tore it while etcd
  // saved it, or a running member is writing it)
  does: { warning: 'falls-back', info: 'ignores' },
  evidence: 'test: damaged snap files',
};

export const SNAP_CODES = {
  SNAP_EMPTY: c(
    ['warning', 'info'],
    `${SNAP}#bad-crc`,
    'an empty snap file or empty data (etcd falls back)',
    SNAP_DAMAGE_RULE,
  ),
  SNAP_DECODE: c(
    ['warning', 'info'],
    `${SNAP}#bad-crc`,
    'a snap file that is not a snappb.Snapshot (etcd falls back)',
    SNAP_DAMAGE_RULE,
  ),
  SNAP_CRC_MISMATCH: c(
    ['warning', 'info'],
    `${SNAP}#bad-crc`,
    "a snap file's CRC does not match (etcd falls back)",
    SNAP_DAMAGE_RULE,
  ),
  SNAP_RAFT_DECODE: c(
    ['warning', 'info'],
    `${SNAP}#bad-crc`,
    'the raft snapshot inside does not decode (etcd falls back)',
    SNAP_DAMAGE_RULE,
  ),
  SNAP_V2_JSON_INVALID: c(
    ['error', 'warning', 'info'],
    `${SNAP}#bad-crc`,
    'the v2 store JSON is missing or invalid (warning when the CRC fails too: etcd never reads it; info when missing from a 3.6+ member, whose membership is in the v3 store)',
    {
      does: { error: 'refuses-to-start', warning: 'falls-back', info: 'normal' },
      evidence:
        'not from etcd: the CRC covers the JSON, so a file that passes it holds what etcd wrote (etcd cannot recover its store from it); with a bad CRC it is part of that damage (test: damaged snap files). info: a 3.6+ db (meta/storageVersion) takes membership from the members bucket and 3.8 plans to stop writing v2 data; no 3.6+ binary is packaged where we can fetch it, so this case is tested on synthetic snap files only (test/audit/snap-v3-membership.test.ts)',
    },
  ),
  SNAP_UNREADABLE: c(['warning', 'info'], `${SNAP}#bad-crc`, 'a snap file cannot be read', SNAP_DAMAGE_RULE),
  SNAP_NAME_MISMATCH: c(
    'error',
    `${SNAP}#bad-snap-name`,
    'the name does not match term/index inside',
    does('refuses-to-start', 'not from etcd: it names the file after the snapshot it holds'),
  ),
  SNAP_NAME_INVALID: c(
    'warning',
    `${SNAP}#bad-snap-name`,
    'a *.snap file not named <term>-<index>.snap',
    does('ignores', 'not from etcd: it skips files it cannot parse'),
  ),
  SNAP_BROKEN_FILE: c(
    'info',
    `${SNAP}#broken-snap-file`,
    'a *.snap.broken file etcd set aside (the leftover of a repair it made)',
    does('normal', 'test: damaged snap files'),
  ),
  SNAP_DEFRAG_LEFTOVER: c(
    'info',
    `${SNAP}#defrag-leftover`,
    'a db.tmp.* file from a defragmentation',
    does(
      'normal',
      'not from a clean run: a defragmentation killed half way leaves it; etcd deletes it at start',
    ),
  ),
  SNAP_MEMBERS_MISMATCH: c(
    'warning',
    `${SNAP}#members-mismatch`,
    'v2 store members differ from the ConfState',
    does('ignores', 'not from etcd: it saves both from one membership'),
  ),
  WAL_NODE_NOT_MEMBER: c(
    'warning',
    `${SNAP}#members-mismatch`,
    "the WAL's node is not in the membership",
    does(
      'stops-as-removed',
      'test: WAL_NODE_NOT_MEMBER (the data dir of a member removed from a 2-member cluster: etcd started on it applies its own removal and stops, "the member has been permanently removed from the cluster")',
    ),
  ),
  SNAP_CONFSTATE_MISMATCH: c(
    'error',
    `${SNAP}#members-mismatch`,
    'snap file and WAL record disagree on voters',
    does('serves-wrong-data', 'not from etcd: it writes both from one raft snapshot'),
  ),
  SNAP_TERM_MISMATCH: c(
    'error',
    `${SNAP}#missing-snap-file`,
    'snap file and WAL record disagree on term',
    does('refuses-to-start', 'not from etcd: it writes both from one raft snapshot'),
  ),
  WAL_SNAPSHOT_FILE_MISSING: c(
    ['error', 'warning'],
    `${SNAP}#missing-snap-file`,
    'a WAL snapshot record without its snap file (warning when etcd can fall back, or no snap file at all)',
    {
      does: { error: 'refuses-to-start', warning: 'falls-back' },
      evidence: 'test: WAL_SNAPSHOT_FILE_MISSING',
    },
  ),
  SNAP_ORPHAN: c(
    'info',
    `${SNAP}#orphan-snap-file`,
    'a snap file newer than every WAL snapshot record',
    does(
      'ignores',
      'test: SNAP_ORPHAN (synthetic: etcd saves the snap file before its WAL record, a crash in between leaves it; etcd 3.4 and 3.5 load only a snap file a WAL snapshot record names)',
    ),
  ),
} as const satisfies Record<string, CodeInfo>;

/** db <-> WAL <-> snap cross-checks of a data dir (cross-checks.ts) */
export const CROSS_CODES = {
  DB_MISSING: c(
    'error',
    `${DB}#restore-from-backup`,
    'member/snap/db is missing',
    does(
      'loses-committed-data',
      'not from etcd: it creates the db at first start and only ever replaces it by rename',
    ),
  ),
  DB_UNREADABLE: c(
    'error',
    `${DB}#restore-from-backup`,
    'member/snap/db cannot be opened',
    does('refuses-to-start', 'not from etcd: a permission or I/O error'),
  ),
  CROSS_INDEX_BEHIND_SNAPSHOT: c(
    ['error', 'info'],
    `${DB}#consistent-index`,
    'db consistent_index below the snapshot index and no .snap.db to catch up from (info: the running member saved a snapshot after its db was read)',
    {
      does: { error: 'refuses-to-start', info: 'normal' },
      evidence:
        'not from etcd: it snapshots only what the db has applied, and renames a received .snap.db into place before it drops it',
    },
  ),
  CROSS_INDEX_BEYOND_COMMIT: c(
    'info',
    `${DB}#consistent-index`,
    'db consistent_index above the last HardState commit on disk (normal: etcd fsyncs the WAL only for entries, term or vote)',
    does('normal', 'test: live members'),
  ),
  CROSS_INDEX_BEYOND_WAL: c(
    'error',
    `${DB}#consistent-index`,
    "the db applied entries the WAL no longer holds (beyond etcd's own in-flight window)",
    does('loses-committed-data', 'test: CROSS_INDEX_BEYOND_WAL'),
  ),
  CROSS_TERM_AHEAD: c(
    'error',
    `${DB}#consistent-index`,
    'db term above the WAL HardState term (3.5)',
    does('serves-wrong-data', 'not from etcd: raft persists a term before entries of it are applied'),
  ),
  CROSS_SNAP_DB_PENDING: c(
    'info',
    `${SNAP}#snap-db`,
    'a .snap.db from the leader that etcd swaps in at the next start',
    does(
      'normal',
      'test: CROSS_SNAP_DB_PENDING (a follower killed after persisting a leader snapshot and before swapping its db in; etcd renames the .snap.db over member/snap/db at start)',
    ),
  ),
  CROSS_SNAP_DB_LEFTOVER: c(
    'info',
    `${SNAP}#snap-db`,
    'a .snap.db the db has already moved past',
    does(
      'ignores',
      'test: CROSS_SNAP_DB_LEFTOVER (a received db whose snapshot the member never applied, catching up from the log instead; etcd ignores it at start and deletes every .snap.db older than its next snapshot)',
    ),
  ),
  CROSS_MEMBERS_STALE: c(
    'info',
    `${DB}#members`,
    'members bucket differs from the raft membership in a 3.4 db (expected after a 3.4 restore)',
    does(
      'ignores',
      'test: CROSS_MEMBERS_STALE (etcd 3.4 `snapshot restore`; 3.4 and 3.5 read membership from the v2 store, 3.5 restores rewrite the bucket)',
    ),
  ),
  CROSS_MEMBERS_MISMATCH: c(
    'warning',
    `${DB}#members`,
    'members bucket differs from the raft membership (3.5+)',
    does('ignores', 'not from etcd: 3.5 saves a membership change to the bucket when it applies it'),
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

const DB_DAMAGE = `${DAMAGE}; bbolt commits by writing one of two meta pages last`;
/** what etcd does with a db carrying each code (the db audit's codes are in db/codes.ts) */
const DB_RULES: Partial<Record<keyof typeof DB_CODES, EtcdRule>> = {
  DB_META_CHECKSUM: does('falls-back', 'test: DB_META_CHECKSUM'),
  DB_META_MAGIC: does('falls-back', `${DB_DAMAGE}; bbolt opens the other meta page`),
  DB_META_VERSION: does('falls-back', `${DB_DAMAGE}; bbolt opens the other meta page`),
  DB_META_PAGE_SIZE: does('falls-back', `${DB_DAMAGE}; bbolt opens the other meta page`),
  DB_META_UNREADABLE: does('falls-back', `${DB_DAMAGE}; bbolt opens the other meta page`),
  DB_META_BOUNDS: does('refuses-to-start', DB_DAMAGE),
  DB_NO_VALID_META: does('refuses-to-start', DB_DAMAGE),
  DB_TRUNCATED: does('refuses-to-start', DB_DAMAGE),
  DB_PAGE_OUT_OF_BOUNDS: does(
    'refuses-to-start',
    `${DB_DAMAGE}; etcd reads every key at start and bbolt panics`,
  ),
  DB_PAGE_BEYOND_EOF: does('refuses-to-start', DB_DAMAGE),
  DB_PAGE_ID_MISMATCH: does('serves-wrong-data', DB_DAMAGE),
  DB_PAGE_INVALID_TYPE: does('refuses-to-start', DB_DAMAGE),
  DB_PAGE_OVERFLOW_OUT_OF_BOUNDS: does('refuses-to-start', DB_DAMAGE),
  DB_PAGE_MULTIPLE_REFERENCES: does('serves-wrong-data', DB_DAMAGE),
  DB_PAGE_CYCLE: does('refuses-to-start', DB_DAMAGE),
  DB_PAGE_REACHABLE_FREED: does(
    'serves-wrong-data',
    `${DB_DAMAGE}; the next commit reuses the page under live data`,
  ),
  DB_ELEMENT_OUT_OF_BOUNDS: does('refuses-to-start', DB_DAMAGE),
  DB_LEAF_FLAGS: does('ignores', DB_DAMAGE),
  DB_EMPTY_BRANCH: does('refuses-to-start', DB_DAMAGE),
  DB_EMPTY_KEY: does('ignores', DB_DAMAGE),
  DB_KEY_ORDER: does('serves-wrong-data', `${DB_DAMAGE}; lookups miss keys`),
  DB_BUCKET_HEADER_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_INLINE_PAGE_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_ROOT_ENTRY_NOT_BUCKET: does('refuses-to-start', DB_DAMAGE),
  DB_FREELIST_INVALID: does('serves-wrong-data', DB_DAMAGE),
  DB_FREELIST_DUPLICATE: does('serves-wrong-data', `${DB_DAMAGE}; one page is handed out twice`),
  DB_UNREACHABLE_UNFREED: does('ignores', `${DB_DAMAGE}; the pages are only lost space`),
  DB_BUCKET_MISSING: does('loses-committed-data', `${DB_DAMAGE}; etcd creates the bucket empty at start`),
  DB_BUCKET_UNKNOWN: does('ignores', 'not from etcd: another tool added the bucket; etcd never reads it'),
  DB_REVISION_KEY_FORMAT: does(
    'refuses-to-start',
    `${DB_DAMAGE}; etcd rebuilds its index from every key at start`,
  ),
  DB_KEYVALUE_DECODE: does(
    'refuses-to-start',
    `${DB_DAMAGE}; etcd rebuilds its index from every key at start`,
  ),
  DB_KEYVALUE_MOD_REVISION: does('serves-wrong-data', DB_DAMAGE),
  DB_KEYVALUE_CREATE_AFTER_MOD: does('serves-wrong-data', DB_DAMAGE),
  DB_KEYVALUE_VERSION: does('serves-wrong-data', DB_DAMAGE),
  DB_KEYVALUE_EMPTY_KEY: does('serves-wrong-data', DB_DAMAGE),
  DB_KEYVALUE_TOMBSTONE: does('ignores', DB_DAMAGE),
  DB_KEYVALUE_GENERATION: does('ignores', DB_DAMAGE),
  DB_META_KEY_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_CONSISTENT_INDEX_MISSING: {
    does: { info: 'normal', error: 'serves-wrong-data' },
    evidence:
      'test: DB_CONSISTENT_INDEX_MISSING (info); the error case is not from etcd: every v3 write saves the index in its transaction',
  },
  DB_COMPACT_REV_ORDER: does('serves-wrong-data', DB_DAMAGE),
  DB_COMPACTION_INTERRUPTED: {
    does: { warning: 'repairs', info: 'normal' },
    evidence:
      'test: DB_COMPACTION_INTERRUPTED (info while the member compacts; killed mid-way, etcd resumes the compaction at start)',
  },
  DB_COMPACTION_LEFTOVER: does('ignores', `${DB_DAMAGE}; etcd compacts the revisions at its next compaction`),
  DB_MEMBER_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_LEASE_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_AUTH_INVALID: does('refuses-to-start', DB_DAMAGE),
  DB_ALARM_ACTIVE: does(
    'keeps-alarm',
    'test: DB_ALARM_ACTIVE (a raised alarm is saved in the db; etcd raises it again at start, and for NOSPACE refuses writes until `alarm disarm`)',
  ),
  DB_ALARM_INVALID: does('refuses-to-start', DB_DAMAGE),
};

const dbCatalogue: Record<string, CodeInfo> = Object.fromEntries(
  Object.entries(DB_CODES).map(([code, v]) => [
    code,
    c(v.severity, v.runbook, dbSummary(code), DB_RULES[code as keyof typeof DB_CODES]),
  ]),
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
