/**
 * Finding codes of the db audit: severity and the runbook section that says what to do.
 */
import type { Severity } from '../finding.js';

const RB = 'runbooks/corrupt-db.md';

export const DB_CODES = {
  // one bad meta page: bbolt opens the other one (the previous commit), which a power loss while bbolt wrote
  // the newer one leaves behind; DB_NO_VALID_META is the error when neither is valid
  DB_META_CHECKSUM: { severity: 'warning', runbook: `${RB}#meta-page` },
  DB_META_MAGIC: { severity: 'warning', runbook: `${RB}#meta-page` },
  DB_META_VERSION: { severity: 'warning', runbook: `${RB}#meta-page` },
  DB_META_PAGE_SIZE: { severity: 'warning', runbook: `${RB}#meta-page` },
  DB_META_UNREADABLE: { severity: 'warning', runbook: `${RB}#meta-page` },
  DB_META_BOUNDS: { severity: 'error', runbook: `${RB}#meta-page` },
  DB_NO_VALID_META: { severity: 'error', runbook: `${RB}#restore-from-backup` },
  DB_TRUNCATED: { severity: 'error', runbook: `${RB}#truncated-file` },
  DB_PAGE_OUT_OF_BOUNDS: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_BEYOND_EOF: { severity: 'error', runbook: `${RB}#truncated-file` },
  DB_PAGE_ID_MISMATCH: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_INVALID_TYPE: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_OVERFLOW_OUT_OF_BOUNDS: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_MULTIPLE_REFERENCES: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_CYCLE: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_PAGE_REACHABLE_FREED: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_ELEMENT_OUT_OF_BOUNDS: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_LEAF_FLAGS: { severity: 'warning', runbook: `${RB}#tree-pages` },
  DB_EMPTY_BRANCH: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_EMPTY_KEY: { severity: 'warning', runbook: `${RB}#tree-pages` },
  DB_KEY_ORDER: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_BUCKET_HEADER_INVALID: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_INLINE_PAGE_INVALID: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_ROOT_ENTRY_NOT_BUCKET: { severity: 'error', runbook: `${RB}#tree-pages` },
  DB_FREELIST_INVALID: { severity: 'error', runbook: `${RB}#freelist` },
  DB_FREELIST_DUPLICATE: { severity: 'error', runbook: `${RB}#freelist` },
  DB_UNREACHABLE_UNFREED: { severity: 'warning', runbook: `${RB}#freelist` },
  DB_BUCKET_MISSING: { severity: 'error', runbook: `${RB}#buckets` },
  DB_BUCKET_UNKNOWN: { severity: 'info', runbook: `${RB}#buckets` },
  DB_REVISION_KEY_FORMAT: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_DECODE: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_MOD_REVISION: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_CREATE_AFTER_MOD: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_VERSION: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_EMPTY_KEY: { severity: 'error', runbook: `${RB}#key-records` },
  DB_KEYVALUE_TOMBSTONE: { severity: 'warning', runbook: `${RB}#key-records` },
  DB_KEYVALUE_GENERATION: { severity: 'warning', runbook: `${RB}#key-records` },
  DB_META_KEY_INVALID: { severity: 'error', runbook: `${RB}#meta-bucket` },
  // info: no v3 write was ever applied (3.1-3.4 write the index with the first one); error: keys without it
  DB_CONSISTENT_INDEX_MISSING: { severity: ['info', 'error'], runbook: `${RB}#meta-bucket` },
  DB_COMPACT_REV_ORDER: { severity: 'error', runbook: `${RB}#compaction` },
  DB_COMPACTION_INTERRUPTED: { severity: ['warning', 'info'], runbook: `${RB}#compaction` },
  DB_COMPACTION_LEFTOVER: { severity: 'warning', runbook: `${RB}#compaction` },
  DB_MEMBER_INVALID: { severity: 'error', runbook: `${RB}#members` },
  DB_LEASE_INVALID: { severity: 'error', runbook: `${RB}#leases` },
  DB_AUTH_INVALID: { severity: 'error', runbook: `${RB}#auth` },
  DB_ALARM_ACTIVE: { severity: 'warning', runbook: `${RB}#alarms` },
  DB_ALARM_INVALID: { severity: 'error', runbook: `${RB}#alarms` },
  DB_AUDIT_INTERNAL: { severity: 'error', runbook: `${RB}#report-a-bug` },
  DB_TOO_MANY_FINDINGS: { severity: 'info', runbook: `${RB}#tree-pages` },
} as const satisfies Record<string, { severity: Severity | readonly Severity[]; runbook: string }>;

export type DbCode = keyof typeof DB_CODES;
