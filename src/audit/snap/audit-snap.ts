/**
 * The snap part of the corruption checklist (docs/format.md §3, §9): every `<term>-<index>.snap` file
 * decodes, has a valid non-zero CRC, a name that matches its metadata, and a v2 store JSON whose
 * members agree with the snapshot's ConfState; leftovers etcd produces (`.broken`, `db.tmp.*`) are
 * noted. Files are read one at a time through `SnapSource`; never throws on bad data.
 */
import type { Finding, Severity } from '../finding.js';
import { hexId } from '../../formats/raft/member-json.js';
import type { ConfState } from '../../formats/raft/raft-messages.js';
import { decodeSnapFile } from '../../formats/snap/snap-file.js';
import { parseSnapDbName, parseSnapName } from '../../formats/snap/snap-name.js';
import { parseV2Store, type V2Member } from '../../formats/snap/v2-store.js';

export interface SnapSource {
  names: readonly string[];
  read(name: string): Promise<Buffer>;
}

/**
 * Problems of one snap file's bytes. etcd never starts from a damaged snap file: it sets it aside (3.4 renames
 * it `.broken`) or skips it (3.5 loads the newest file that matches a WAL snapshot record) and falls back to an
 * older one, or to the WAL from index 0. Whether it can start at all is WAL_SNAPSHOT_FILE_MISSING's verdict,
 * so these are warnings, and info for a file newer than every WAL snapshot record, which etcd never loads (a
 * crash tore it while etcd saved it, or the running member is writing it).
 */
export const SNAP_FILE_DAMAGE: ReadonlySet<string> = new Set([
  'SNAP_EMPTY',
  'SNAP_DECODE',
  'SNAP_CRC_MISMATCH',
  'SNAP_RAFT_DECODE',
  'SNAP_UNREADABLE',
]);

export interface SnapFileFacts {
  name: string;
  term: bigint;
  index: bigint;
  /** decoded, CRC valid, name matches: etcd can load it */
  valid: boolean;
  confState?: ConfState;
  members?: V2Member[];
  removedIds?: bigint[];
  clusterVersion?: string;
}

export interface SnapFacts {
  /** `.snap` files with parseable names, oldest first */
  files: SnapFileFacts[];
  snapDbs: { name: string; index: bigint }[];
  hasDb: boolean;
}

export interface SnapAuditOptions {
  /** prefix for Finding.file, e.g. 'member/snap' */
  dirLabel?: string;
  signal?: AbortSignal;
  /**
   * Where etcd takes membership from (the db's storage version, formats/mvcc/buckets.ts membershipSource).
   * From 3.6 on it is the members bucket: the v2 store in a snap file is no longer read for it (3.7 starts
   * from the v3 store alone, 3.8 plans to stop writing it), so a snap without v2 data, or with stale v2
   * members, is normal there. @default 'v2-store' (3.4, 3.5, and a data dir whose db is unreadable)
   */
  membershipSource?: 'v2-store' | 'members-bucket';
}

const RUNBOOK = 'runbooks/corrupt-snap.md';

export async function auditSnap(
  src: SnapSource,
  opts: SnapAuditOptions = {},
): Promise<{ findings: Finding[]; facts: SnapFacts }> {
  const findings: Finding[] = [];
  const label = (n: string) => (opts.dirLabel ? `${opts.dirLabel}/${n}` : n);
  const add = (severity: Severity, code: string, file: string, message: string, anchor: string) =>
    findings.push({
      severity,
      code,
      file: label(file),
      location: { offset: 0 },
      message,
      runbook: `${RUNBOOK}#${anchor}`,
    });
  const facts: SnapFacts = { files: [], snapDbs: [], hasDb: src.names.includes('db') };

  for (const name of [...src.names].sort()) {
    opts.signal?.throwIfAborted();
    if (name.endsWith('.snap.broken')) {
      add(
        'info',
        'SNAP_BROKEN_FILE',
        name,
        `snap: ${label(name)} is a snap file etcd failed to load and set aside (it started from another one)`,
        'broken-snap-file',
      );
      continue;
    }
    if (name.startsWith('db.tmp')) {
      add(
        'info',
        'SNAP_DEFRAG_LEFTOVER',
        name,
        `snap: ${label(name)} is left over from an interrupted defragmentation; etcd deletes it at startup`,
        'defrag-leftover',
      );
      continue;
    }
    const dbName = parseSnapDbName(name);
    if (dbName) {
      facts.snapDbs.push(dbName);
      continue;
    }
    if (!name.endsWith('.snap')) continue;
    const parsed = parseSnapName(name);
    if (!parsed) {
      add(
        'warning',
        'SNAP_NAME_INVALID',
        name,
        `snap: ${label(name)} is not named <term>-<index>.snap (16 hex digits each)`,
        'bad-snap-name',
      );
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await src.read(name);
    } catch (err) {
      // purged by etcd (it keeps the newest --max-snapshots) after the directory was listed
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      add(
        'warning',
        'SNAP_UNREADABLE',
        name,
        `snap: cannot read ${label(name)}: ${(err as Error).message}`,
        'bad-crc',
      );
      facts.files.push({ name, term: parsed.term, index: parsed.index, valid: false });
      continue;
    }
    const res = decodeSnapFile(bytes);
    let valid = res.problems.length === 0;
    for (const p of res.problems)
      add('warning', p.code, name, `snap: ${label(name)}: ${p.message}`, 'bad-crc');
    const f: SnapFileFacts = { name, term: parsed.term, index: parsed.index, valid: false };
    const snap = res.snapshot;
    if (snap) {
      f.confState = snap.metadata.confState;
      if (snap.metadata.term !== parsed.term || snap.metadata.index !== parsed.index) {
        valid = false;
        add(
          'error',
          'SNAP_NAME_MISMATCH',
          name,
          `snap: ${label(name)} is named for term ${parsed.term} index ${parsed.index} but holds term ${snap.metadata.term} index ${snap.metadata.index}`,
          'bad-snap-name',
        );
      }
      // with a bad CRC etcd never reads the JSON: the damage is the CRC finding's (a warning)
      const jsonSeverity = res.problems.length > 0 ? 'warning' : 'error';
      const v3Membership = opts.membershipSource === 'members-bucket';
      if (!snap.data && v3Membership) {
        add(
          'info',
          'SNAP_V2_JSON_INVALID',
          name,
          `snap: ${label(name)} holds no v2 store data; this member's db (storage version 3.6+) keeps membership in its members bucket, which etcd reads instead`,
          'bad-crc',
        );
      } else if (!snap.data) {
        add(
          jsonSeverity,
          'SNAP_V2_JSON_INVALID',
          name,
          `snap: ${label(name)} holds no v2 store data`,
          'bad-crc',
        );
        valid = false;
      } else {
        try {
          const v2 = parseV2Store(snap.data);
          f.members = v2.members;
          f.removedIds = v2.removedIds;
          if (v2.clusterVersion !== undefined) f.clusterVersion = v2.clusterVersion;
          const inConf = new Set(
            [...snap.metadata.confState.voters, ...snap.metadata.confState.learners].map(hexId),
          );
          const inStore = new Set(v2.members.map((m) => hexId(m.id)));
          const onlyConf = [...inConf].filter((x) => !inStore.has(x));
          const onlyStore = [...inStore].filter((x) => !inConf.has(x));
          // from 3.6 on the v2 store's members are not read: the members bucket is checked against raft instead
          if ((onlyConf.length || onlyStore.length) && !v3Membership)
            add(
              'warning',
              'SNAP_MEMBERS_MISMATCH',
              name,
              `snap: in ${label(name)} the ConfState lists members the v2 store lacks [${onlyConf.join(', ')}] and the v2 store lists members the ConfState lacks [${onlyStore.join(', ')}]`,
              'members-mismatch',
            );
        } catch (err) {
          valid = false;
          add(
            jsonSeverity,
            'SNAP_V2_JSON_INVALID',
            name,
            `snap: the v2 store JSON in ${label(name)} does not parse: ${(err as Error).message}`,
            'bad-crc',
          );
        }
      }
    }
    f.valid = valid;
    facts.files.push(f);
  }
  return { findings, facts };
}
