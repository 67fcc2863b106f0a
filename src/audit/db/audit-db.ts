/**
 * Offline audit of a bbolt backend file: meta pages, the page tree (bbolt check plus the inspector's own
 * structural checks), then etcd's records (revision keys, KeyValue invariants, compaction revisions, members,
 * leases, auth, alarms). One walk, page by page; every problem becomes a Finding and the walk carries on.
 */
import type { ByteSource } from '../../formats/byte-source.js';
import { readFreelist } from '../../formats/bbolt/freelist.js';
import { get } from '../../formats/bbolt/lookup.js';
import { readMetas } from '../../formats/bbolt/meta.js';
import { openBbolt } from '../../formats/bbolt/open.js';
import type { BboltProblem } from '../../formats/bbolt/problem.js';
import { newMarks, PageMarks, walkTree } from '../../formats/bbolt/walk.js';
import {
  decodeAlarm,
  decodeAuth,
  decodeLease,
  decodeMember,
  decodeMeta,
  decodeRole,
  decodeUser,
  STANDARD_BUCKETS,
} from '../../formats/mvcc/buckets.js';
import { scanKeyValue } from '../../formats/mvcc/key-value.js';
import { revisionKeyProblem } from '../../formats/mvcc/revision.js';
import type { Finding, Severity } from '../finding.js';
import { DB_CODES, type DbCode } from './codes.js';

export const MAX_PER_CODE = 50;

interface KeyState {
  /** version and create revision of the last put in the current generation; null after a tombstone */
  version: bigint | null;
  create: bigint;
  /** puts with main <= compact revision */
  atOrBeforeCompact: number;
}

export function auditDb(src: ByteSource, file: string): Finding[] {
  const findings: Finding[] = [];
  const perCode = new Map<string, number>();
  const add = (
    code: DbCode,
    message: string,
    location?: Finding['location'],
    severityOf?: Severity,
  ): void => {
    const n = (perCode.get(code) ?? 0) + 1;
    perCode.set(code, n);
    if (n > MAX_PER_CODE) return;
    const { severity: listed, runbook } = DB_CODES[code];
    const severity: Severity = severityOf ?? (typeof listed === 'string' ? listed : listed[0]);
    findings.push({ severity, code, file, ...(location ? { location } : {}), message, runbook });
  };
  const fromProblem = (p: BboltProblem): void => {
    const loc: Finding['location'] = {};
    if (p.page !== undefined) loc.page = p.page;
    if (p.offset !== undefined) loc.offset = p.offset;
    const where = p.bucket ? ` in bucket ${p.bucket}` : '';
    add(`DB_${p.code}` as DbCode, `bbolt: ${p.message}${where}`, loc);
  };

  try {
    auditInto(src, add, fromProblem);
  } catch (err) {
    // a bug, not bad data: still reported as a finding so the audit's other results survive
    add('DB_AUDIT_INTERNAL', `db audit stopped early: ${(err as Error).message}`);
  }
  for (const [code, n] of perCode) {
    if (n > MAX_PER_CODE) {
      add('DB_TOO_MANY_FINDINGS', `${n - MAX_PER_CODE} more ${code} findings not listed`);
    }
  }
  return findings;
}

type Add = (code: DbCode, message: string, location?: Finding['location'], severity?: Severity) => void;

function auditInto(src: ByteSource, add: Add, fromProblem: (p: BboltProblem) => void): void {
  // ---- meta pages
  let noMeta = false;
  const db = openBbolt(src, {
    chunkSize: 1 << 20,
    chunks: 16,
    onProblem: (p) => {
      if (p.code === 'NO_VALID_META') noMeta = true;
      else fromProblem(p);
    },
  });
  // read the metas again: openBbolt gives nothing back when neither is valid
  const metaList = db?.metas.metas ?? readMetas(src).metas;
  metaList.forEach((m, slot) => {
    if (m === null) {
      add('DB_META_UNREADABLE', `bbolt: meta ${slot} cannot be read (page size unknown or file too short)`, {
        page: slot,
      });
      return;
    }
    const loc = { page: slot, offset: m.offset + 16 };
    for (const problem of m.problems) {
      const code: DbCode = problem.startsWith('checksum')
        ? 'DB_META_CHECKSUM'
        : problem.startsWith('bad magic')
          ? 'DB_META_MAGIC'
          : problem.startsWith('unsupported version')
            ? 'DB_META_VERSION'
            : 'DB_META_PAGE_SIZE';
      add(
        code,
        `bbolt: meta page ${slot}: ${problem}`,
        code === 'DB_META_CHECKSUM' ? { ...loc, offset: m.offset + 72 } : loc,
      );
    }
    if (m.valid && (m.root >= m.pgid || (m.freelist !== null && m.freelist >= m.pgid) || m.pgid < 2)) {
      add(
        'DB_META_BOUNDS',
        `bbolt: meta page ${slot}: root ${m.root} or freelist ${m.freelist} not below pgid ${m.pgid}`,
        loc,
      );
    }
  });
  if (noMeta || db === null) {
    add('DB_NO_VALID_META', 'bbolt: neither meta page is valid: bbolt (and etcd) cannot open this file', {
      page: 0,
    });
    return;
  }

  // ---- freelist (only when persisted)
  const marks = newMarks(db);
  let free: PageMarks | undefined;
  const freelist = readFreelist(db, fromProblem);
  if (freelist) {
    for (let p = freelist.page; p <= freelist.page + freelist.overflow && p < marks.limit; p++) marks.add(p);
    free = new PageMarks(marks.limit);
    for (const id of freelist.ids) {
      if (id < 2 || id >= db.pgid) {
        add('DB_FREELIST_INVALID', `bbolt: freelist lists page ${id}, outside [2, ${db.pgid})`, {
          page: freelist.page,
        });
      } else if (id < free.limit && free.has(id)) {
        add('DB_FREELIST_DUPLICATE', `bbolt: page ${id} is listed twice in the freelist (already freed)`, {
          page: freelist.page,
        });
      } else if (id < free.limit) free.add(id);
    }
  }

  // ---- the tree and the records in it
  const topBuckets: string[] = [];
  const metaEntries: [Buffer, Buffer][] = [];
  const authEntries: [Buffer, Buffer][] = [];
  const keys = new Map<string, KeyState>();
  let maxRevision = 0n;
  // the meta bucket sorts after `key`: look the compact revision up first
  const finBytes = get(db, [Buffer.from('meta')], Buffer.from('finishedCompactRev'));
  const compactRev = finBytes && finBytes.length === 17 ? finBytes.readBigInt64BE(0) : 0n;

  for (const e of walkTree(db, { marks, free, onProblem: fromProblem })) {
    if (e.path.length === 0) {
      topBuckets.push(e.key.toString('latin1'));
      continue;
    }
    if (e.path.length !== 1 || e.isBucket) continue;
    const bucket = e.path[0]!.toString('latin1');
    const loc = { page: e.page };
    switch (bucket) {
      case 'key': {
        const why = revisionKeyProblem(e.key);
        if (why !== null) {
          add('DB_REVISION_KEY_FORMAT', `mvcc: ${why}`, loc);
          break;
        }
        const main = e.key.readBigInt64BE(0);
        const tomb = e.key.length === 18;
        if (main > maxRevision) maxRevision = main;
        checkKeyRecord(add, keys, main, tomb, e.key, e.value, loc, compactRev);
        break;
      }
      case 'meta':
        metaEntries.push([Buffer.from(e.key), Buffer.from(e.value)]);
        break;
      case 'auth':
        authEntries.push([Buffer.from(e.key), Buffer.from(e.value)]);
        break;
      case 'members':
        try {
          const m = decodeMember(e.key, e.value);
          if (m.id.toString(16) !== m.idHex) {
            add('DB_MEMBER_INVALID', `members: key ${m.idHex} holds member id ${m.id.toString(16)}`, loc);
          }
        } catch (err) {
          add('DB_MEMBER_INVALID', `members: ${e.key.toString('latin1')}: ${(err as Error).message}`, loc);
        }
        break;
      case 'lease':
        try {
          const l = decodeLease(e.value);
          if (e.key.length !== 8 || e.key.readBigInt64BE(0) !== l.id) {
            add(
              'DB_LEASE_INVALID',
              `lease: key 0x${e.key.toString('hex')} holds lease ${l.id.toString(16)}`,
              loc,
            );
          }
        } catch (err) {
          add('DB_LEASE_INVALID', `lease: 0x${e.key.toString('hex')}: ${(err as Error).message}`, loc);
        }
        break;
      case 'authUsers':
      case 'authRoles':
        try {
          if (bucket === 'authUsers') decodeUser(e.value);
          else decodeRole(e.value);
        } catch (err) {
          add('DB_AUTH_INVALID', `${bucket}: ${e.key.toString('latin1')}: ${(err as Error).message}`, loc);
        }
        break;
      case 'alarm':
        try {
          const a = decodeAlarm(e.key);
          add('DB_ALARM_ACTIVE', `alarm ${a.alarm} raised for member ${a.memberID.toString(16)}`, {
            ...loc,
            member: a.memberID.toString(16),
          });
        } catch (err) {
          add('DB_ALARM_INVALID', `alarm: 0x${e.key.toString('hex')}: ${(err as Error).message}`, loc);
        }
        break;
    }
  }

  // ---- buckets present
  for (const required of ['key', 'meta']) {
    if (!topBuckets.includes(required)) add('DB_BUCKET_MISSING', `etcd bucket "${required}" is missing`);
  }
  for (const b of topBuckets) {
    if (!STANDARD_BUCKETS.includes(b)) add('DB_BUCKET_UNKNOWN', `bucket "${b}" is not one etcd creates`);
  }

  // ---- meta bucket and compaction
  const meta = decodeMeta(metaEntries);
  for (const p of meta.problems) add('DB_META_KEY_INVALID', `meta/${p.key}: ${p.message}`);
  if (topBuckets.includes('meta') && meta.consistentIndex === null) {
    // etcd reads a missing index as 0 and applies every WAL entry after the loaded snapshot again: harmless
    // when the db holds no key (a 3.1-3.4 member that never applied a v3 write has none), wrong revisions
    // when it does (every v3 write saves the index in the same transaction, so etcd never leaves that)
    if (maxRevision === 0n)
      add(
        'DB_CONSISTENT_INDEX_MISSING',
        'meta/consistent_index is absent and the db holds no key: no v3 write was ever applied (etcd 3.1-3.4 write the index with the first one); etcd starts from index 0 and replays the WAL',
        undefined,
        'info',
      );
    else
      add(
        'DB_CONSISTENT_INDEX_MISSING',
        `meta/consistent_index is absent but the db holds keys up to revision ${maxRevision}: etcd would apply the WAL's entries a second time on top of them (wrong revisions)`,
        undefined,
        'error',
      );
  }
  const fin = meta.finishedCompactRev;
  const sch = meta.scheduledCompactRev;
  if (fin !== null && sch !== null && fin > sch) {
    add('DB_COMPACT_REV_ORDER', `finishedCompactRev ${fin} is after scheduledCompactRev ${sch}`);
  }
  if (sch !== null && maxRevision > 0n && sch > maxRevision) {
    add('DB_COMPACT_REV_ORDER', `scheduledCompactRev ${sch} is after the latest revision ${maxRevision}`);
  }
  if (sch !== null && (fin === null || sch > fin)) {
    add(
      'DB_COMPACTION_INTERRUPTED',
      `compaction to ${sch} was scheduled but finished only to ${fin ?? 'none'}`,
    );
  } else if (fin !== null) {
    let extra = 0;
    for (const s of keys.values()) if (s.atOrBeforeCompact > 1) extra += s.atOrBeforeCompact - 1;
    if (extra > 0) {
      add(
        'DB_COMPACTION_LEFTOVER',
        `${extra} revisions at or before compact revision ${fin} should have been removed`,
      );
    }
  }
  try {
    decodeAuth(authEntries);
  } catch (err) {
    add('DB_AUTH_INVALID', `auth: ${(err as Error).message}`);
  }

  // ---- freelist accounting: with a persisted freelist every page is reachable or free
  if (free) {
    let unreachable = 0;
    for (let p = 2; p < Math.min(db.pgid, marks.limit); p++) if (!marks.has(p) && !free.has(p)) unreachable++;
    if (unreachable > 0)
      add('DB_UNREACHABLE_UNFREED', `bbolt: ${unreachable} pages are neither reachable nor free`);
  }
}

function checkKeyRecord(
  add: Add,
  keys: Map<string, KeyState>,
  main: bigint,
  tomb: boolean,
  revKey: Buffer,
  value: Buffer,
  loc: { page: number },
  compactRev: bigint,
): void {
  const rk = `${main}_${revKey.readBigInt64BE(9)}${tomb ? 't' : ''}`;
  let kv;
  try {
    kv = scanKeyValue(value);
  } catch (err) {
    add(
      'DB_KEYVALUE_DECODE',
      `mvcc: revision ${rk}: KeyValue does not decode: ${(err as Error).message}`,
      loc,
    );
    return;
  }
  if (kv.key.length === 0) {
    add('DB_KEYVALUE_EMPTY_KEY', `mvcc: revision ${rk}: KeyValue has an empty key`, loc);
    return;
  }
  const uk = kv.key.toString('latin1');
  let s = keys.get(uk);
  if (!s) keys.set(uk, (s = { version: null, create: 0n, atOrBeforeCompact: 0 }));
  const name = JSON.stringify(kv.key.toString('utf8'));
  if (tomb) {
    if (kv.modRevision !== 0n || kv.createRevision !== 0n || kv.version !== 0n || kv.valueLength !== 0) {
      add('DB_KEYVALUE_TOMBSTONE', `mvcc: tombstone ${rk} for ${name} carries more than the key`, loc);
    }
    s.version = null;
    return;
  }
  if (kv.modRevision !== main) {
    add(
      'DB_KEYVALUE_MOD_REVISION',
      `mvcc: revision ${rk} of ${name} has mod_revision ${kv.modRevision}`,
      loc,
    );
  }
  if (kv.createRevision > kv.modRevision || kv.createRevision < 1n) {
    add(
      'DB_KEYVALUE_CREATE_AFTER_MOD',
      `mvcc: revision ${rk} of ${name} has create_revision ${kv.createRevision}, mod_revision ${kv.modRevision}`,
      loc,
    );
  }
  if (kv.version < 1n) {
    add('DB_KEYVALUE_VERSION', `mvcc: revision ${rk} of ${name} has version ${kv.version}`, loc);
  } else if (s.version !== null && (kv.version !== s.version + 1n || kv.createRevision !== s.create)) {
    add(
      'DB_KEYVALUE_GENERATION',
      `mvcc: revision ${rk} of ${name} has version ${kv.version} / create ${kv.createRevision} after version ${s.version} / create ${s.create}`,
      loc,
    );
  } else if (s.version === null && kv.version === 1n && kv.createRevision !== main) {
    add(
      'DB_KEYVALUE_GENERATION',
      `mvcc: first version of ${name} at ${rk} has create_revision ${kv.createRevision}`,
      loc,
    );
  }
  s.version = kv.version;
  s.create = kv.createRevision;
  if (main <= compactRev) s.atOrBeforeCompact++;
}
