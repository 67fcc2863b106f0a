/**
 * Turning inspect / diff items into JSON values and table lines. Pure: no I/O. Values appear only when
 * `values` is set, cut to `valueLimit` bytes (Infinity for --full).
 */
import { hexId } from '../formats/raft/member-json.js';
import type { KeyValue } from '../formats/mvcc/key-value.js';
import type { KeyChange } from '../diff/diff-keys.js';
import { bytesCell, keyFields, valueDigest, valueFields } from './bytes-text.js';
import { deleteScope, type DeleteView, type RequestView, type WalItem } from './wal-view.js';

export interface ValueDisplay {
  values: boolean;
  /** bytes of a value shown; Infinity = all */
  valueLimit: number;
}

export const DEFAULT_VALUE_LIMIT = 200;

const nonEmpty = <T>(k: string, a: T[]): Record<string, T[]> => (a.length ? { [k]: a } : {});

function requestJson(r: RequestView, show: ValueDisplay): Record<string, unknown> {
  return {
    op: r.op,
    categories: r.categories,
    ...(r.requestId !== undefined ? { requestId: hexId(r.requestId) } : {}),
    ...nonEmpty(
      'puts',
      r.puts.map((p) => ({
        ...keyFields(p.key),
        valueSize: p.valueSize,
        ...(p.lease ? { lease: hexId(p.lease) } : {}),
        ...(p.branch ? { branch: p.branch } : {}),
        ...(show.values ? valueFields(p.value, show.valueLimit) : {}),
      })),
    ),
    ...nonEmpty(
      'deletes',
      r.deletes.map((d) => {
        const end = d.rangeEnd ? keyFields(d.rangeEnd) : undefined;
        return {
          ...keyFields(d.key),
          ...(end
            ? { rangeEnd: end.key, ...(end.keyEncoding ? { rangeEndEncoding: end.keyEncoding } : {}) }
            : {}),
          ...(deleteScopeOf(d) !== 'key' ? { scope: deleteScopeOf(d) } : {}),
          ...(d.branch ? { branch: d.branch } : {}),
        };
      }),
    ),
    ...(r.compares !== undefined ? { compares: r.compares } : {}),
    ...(r.compaction ? { compaction: r.compaction } : {}),
    ...nonEmpty(
      'leaseGrants',
      r.leaseGrants.map((g) => ({ id: hexId(g.id), ttl: g.ttl })),
    ),
    ...nonEmpty('leaseRevokes', r.leaseRevokes.map(hexId)),
    ...nonEmpty(
      'leaseCheckpoints',
      r.leaseCheckpoints.map((c) => ({ id: hexId(c.id), remainingTtl: c.remainingTtl })),
    ),
    ...nonEmpty(
      'memberChanges',
      r.memberChanges.map((m) => ({
        change: m.change,
        memberId: hexId(m.memberId),
        ...(m.member?.name !== undefined ? { name: m.member.name } : {}),
        ...(m.member?.peerURLs ? { peerURLs: m.member.peerURLs } : {}),
        ...(m.member?.clientURLs?.length ? { clientURLs: m.member.clientURLs } : {}),
        ...(m.member?.isLearner ? { isLearner: true } : {}),
      })),
    ),
    ...(r.auth
      ? {
          auth: Object.fromEntries(
            Object.entries(r.auth).map(([k, v]) => [k, typeof v === 'string' ? v : keyFields(v).key]),
          ),
        }
      : {}),
    ...(r.v2 ? { v2: r.v2 } : {}),
    ...(r.detail ? { detail: r.detail } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

/** One WAL item as a JSON value (bigints become strings when serialised). */
export function walItemJson(item: WalItem, show: ValueDisplay): Record<string, unknown> {
  switch (item.kind) {
    case 'entry':
      return {
        kind: 'entry',
        index: item.index,
        term: item.term,
        entryType: item.entryType,
        ...requestJson(item.request, show),
        file: item.file,
        offset: item.offset,
        ...(item.crcValid ? {} : { crcValid: false }),
      };
    case 'problem':
      return { ...item };
    default: {
      const { crcValid, ...rest } = item;
      return { ...rest, ...(crcValid ? {} : { crcValid: false }) };
    }
  }
}

const deleteScopeOf = (d: DeleteView) => d.scope ?? deleteScope(d.key, d.rangeEnd);

function describeRequest(r: RequestView, show: ValueDisplay): string {
  const parts: string[] = [];
  const branch = (b?: string) => (b ? `[${b}] ` : '');
  for (const p of r.puts) {
    let s = `${branch(p.branch)}put ${bytesCell(p.key)} (${p.valueSize} B)`;
    if (p.lease) s += ` lease ${hexId(p.lease)}`;
    if (show.values) s += ` = ${bytesCell(p.value, show.valueLimit)}`;
    parts.push(s);
  }
  for (const d of r.deletes) {
    // never "a..b": that reads as a path
    const scope = deleteScopeOf(d);
    const what =
      scope === 'prefix'
        ? `prefix ${bytesCell(d.key)}`
        : scope === 'from-key'
          ? `from ${bytesCell(d.key)} to the end`
          : scope === 'range' && d.rangeEnd
            ? `range [${bytesCell(d.key)}, ${bytesCell(d.rangeEnd)})`
            : bytesCell(d.key);
    parts.push(`${branch(d.branch)}delete ${what}`);
  }
  if (r.compaction)
    parts.push(`compact to revision ${r.compaction.revision}${r.compaction.physical ? ' (physical)' : ''}`);
  for (const g of r.leaseGrants) parts.push(`lease grant ${hexId(g.id)} ttl ${g.ttl}s`);
  for (const id of r.leaseRevokes) parts.push(`lease revoke ${hexId(id)}`);
  for (const c of r.leaseCheckpoints)
    parts.push(`lease checkpoint ${hexId(c.id)} remaining ${c.remainingTtl}s`);
  for (const m of r.memberChanges) {
    const urls = m.member?.peerURLs?.length ? ` ${m.member.peerURLs.join(',')}` : '';
    const clientUrls =
      m.change === 'attributes' && m.member?.clientURLs?.length ? ` ${m.member.clientURLs.join(',')}` : '';
    parts.push(
      `member ${m.change} ${hexId(m.memberId)}${m.member?.name ? ` ${m.member.name}` : ''}${urls}${clientUrls}`,
    );
  }
  if (r.auth)
    parts.push(
      `${r.op} ${Object.entries(r.auth)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : bytesCell(v)}`)
        .join(' ')}`.trim(),
    );
  if (r.v2) parts.push(`v2 ${r.v2.method} ${r.v2.path}`);
  if (r.detail) parts.push(`${r.op} ${r.detail}`);
  if (r.error) parts.push(`undecodable: ${r.error}`);
  if (!parts.length) parts.push(r.op);
  const head = r.op === 'txn' ? `txn (${r.compares ?? 0} compare${r.compares === 1 ? '' : 's'}): ` : '';
  return head + parts.join('; ');
}

export const WAL_TABLE_HEAD = `${'INDEX'.padStart(10)} ${'TERM'.padStart(5)}  ${'TYPE'.padEnd(11)} REQUEST`;

/** One WAL item as one line for people. */
export function walItemLine(item: WalItem, show: ValueDisplay): string {
  const bad = 'crcValid' in item && !item.crcValid ? '  [CRC MISMATCH]' : '';
  switch (item.kind) {
    case 'entry': {
      const cats = item.request.categories;
      const type =
        item.entryType !== 'normal' ? item.entryType : cats.includes('txn') ? 'txn' : (cats[0] ?? 'normal');
      return `${String(item.index).padStart(10)} ${String(item.term).padStart(5)}  ${type.padEnd(11)} ${describeRequest(item.request, show)}${bad}`;
    }
    case 'state':
      return `${''.padStart(10)} ${String(item.term).padStart(5)}  ${'(state)'.padEnd(11)} term ${item.term} vote ${hexId(item.vote)} commit ${item.commit}${bad}`;
    case 'snapshot':
      return `${String(item.index).padStart(10)} ${String(item.term).padStart(5)}  ${'(snapshot)'.padEnd(11)} snapshot at index ${item.index} term ${item.term}${bad}`;
    case 'metadata':
      return `${''.padStart(10)} ${''.padStart(5)}  ${'(metadata)'.padEnd(11)} ${item.file}: node ${item.nodeId} cluster ${item.clusterId}${bad}`;
    case 'problem':
      return `!! ${item.code}${item.offset !== undefined ? ` at ${item.file} offset ${item.offset}` : item.file ? ` ${item.file}` : ''}: ${item.message}`;
  }
}

/** One key-value of `inspect keys` as JSON. */
export function keyValueJson(kv: KeyValue, show: ValueDisplay): Record<string, unknown> {
  return {
    ...keyFields(kv.key),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease ? hexId(kv.lease) : '0',
    valueSize: kv.value.length,
    valueSha256: valueDigest(kv.value),
    ...(show.values ? valueFields(kv.value, show.valueLimit) : {}),
  };
}

export const KEYS_TABLE_HEAD = `${'CREATE'.padStart(9)} ${'MOD'.padStart(9)} ${'VER'.padStart(5)} ${'LEASE'.padEnd(16)} ${'SIZE'.padStart(8)}  KEY`;

export function keyValueLine(kv: KeyValue, show: ValueDisplay): string {
  const lease = kv.lease ? hexId(kv.lease) : '-';
  const v = show.values ? ` = ${bytesCell(kv.value, show.valueLimit)}` : '';
  return `${String(kv.createRevision).padStart(9)} ${String(kv.modRevision).padStart(9)} ${String(kv.version).padStart(5)} ${lease.padEnd(16)} ${String(kv.value.length).padStart(8)}  ${bytesCell(kv.key)}${v}`;
}

function side(kv: KeyValue, show: ValueDisplay): Record<string, unknown> {
  return {
    modRevision: kv.modRevision,
    createRevision: kv.createRevision,
    version: kv.version,
    ...(kv.lease ? { lease: hexId(kv.lease) } : {}),
    valueSize: kv.value.length,
    valueSha256: valueDigest(kv.value),
    ...(show.values ? valueFields(kv.value, show.valueLimit) : {}),
  };
}

export function keyChangeJson(c: KeyChange, show: ValueDisplay): Record<string, unknown> {
  return {
    kind: c.kind,
    ...keyFields(c.key),
    ...(c.kind !== 'added' ? { a: side(c.a, show) } : {}),
    ...(c.kind !== 'removed' ? { b: side(c.b, show) } : {}),
    ...(c.kind === 'changed' ? { valueChanged: c.valueChanged, leaseChanged: c.leaseChanged } : {}),
  };
}

function sideCell(kv: KeyValue, show: ValueDisplay): string {
  const v = show.values ? ` = ${bytesCell(kv.value, show.valueLimit)}` : '';
  return `rev ${kv.modRevision}, ${kv.value.length} B, sha256 ${valueDigest(kv.value)}${kv.lease ? `, lease ${hexId(kv.lease)}` : ''}${v}`;
}

export function keyChangeLine(c: KeyChange, show: ValueDisplay): string {
  if (c.kind === 'added') return `+ ${bytesCell(c.key)}  (${sideCell(c.b, show)})`;
  if (c.kind === 'removed') return `- ${bytesCell(c.key)}  (${sideCell(c.a, show)})`;
  return `~ ${bytesCell(c.key)}  (${sideCell(c.a, show)}) -> (${sideCell(c.b, show)})`;
}
