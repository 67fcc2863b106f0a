/**
 * One change of the revision log as `dr inspect log` shows it: revision, the time dr received it, PUT or
 * DELETE, the key, and the KeyValue's fields; the value only when asked for (--values), else its size and
 * a short sha256. Pure: no I/O.
 */
import { hexId } from '../formats/raft/member-json.js';
import type { LogEvent, RevisionRecord } from '../revlog/segment-format.js';
import { bytesCell, keyFields, valueDigest, valueFields } from './bytes-text.js';
import type { ValueDisplay } from './render.js';

/** Which events a view keeps: one key, or the keys under a prefix; every key when neither. */
export interface KeyFilter {
  key?: Buffer;
  prefix?: Buffer;
}

export function eventMatches(e: LogEvent, f: KeyFilter): boolean {
  if (f.key) return e.key.equals(f.key);
  if (f.prefix) return e.key.subarray(0, f.prefix.length).equals(f.prefix);
  return true;
}

export function logChangeJson(rec: RevisionRecord, e: LogEvent, show: ValueDisplay): Record<string, unknown> {
  return {
    revision: rec.revision,
    time: new Date(rec.receivedAt).toISOString(),
    type: e.type,
    ...keyFields(e.key),
    ...(e.type === 'PUT'
      ? {
          createRevision: e.createRevision,
          version: e.version,
          lease: e.lease ? hexId(e.lease) : '0',
          valueSize: e.value.length,
          valueSha256: valueDigest(e.value),
          ...(show.values ? valueFields(e.value, show.valueLimit) : {}),
        }
      : {}),
  };
}

export const LOG_TABLE_HEAD = `${'REVISION'.padStart(10)} ${'TIME'.padEnd(24)} ${'TYPE'.padEnd(6)} KEY`;

export function logChangeLine(rec: RevisionRecord, e: LogEvent, show: ValueDisplay): string {
  const head = `${String(rec.revision).padStart(10)} ${new Date(rec.receivedAt).toISOString().padEnd(24)} ${e.type.padEnd(6)} ${bytesCell(e.key)}`;
  if (e.type === 'DELETE') return head;
  const lease = e.lease ? `, lease ${hexId(e.lease)}` : '';
  const v = show.values ? ` = ${bytesCell(e.value, show.valueLimit)}` : '';
  return `${head}  (v${e.version}${lease}, ${e.value.length} B, sha256 ${valueDigest(e.value)})${v}`;
}
