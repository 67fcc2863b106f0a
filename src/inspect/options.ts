/** The flags the forensic views share: revisions and indexes, value display, WAL entry types. */
import { DrError } from '../core/errors.js';
import { DEFAULT_VALUE_LIMIT, type ValueDisplay } from './render.js';
import { ENTRY_CATEGORIES, type EntryCategory } from './wal-view.js';

export function parseRevisionFlag(raw: string | undefined, flag: string): bigint | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new DrError('USAGE', `${flag}: "${raw}" is not a non-negative integer`);
  return BigInt(raw);
}

export function valueDisplay(opts: { values?: boolean; full?: boolean }): ValueDisplay {
  if (opts.full && !opts.values) throw new DrError('USAGE', '--full only applies with --values');
  return { values: opts.values === true, valueLimit: opts.full ? Infinity : DEFAULT_VALUE_LIMIT };
}

export function parseTypes(raw: string | undefined): Set<EntryCategory> | undefined {
  if (raw === undefined) return undefined;
  const out = new Set<EntryCategory>();
  for (const t of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(ENTRY_CATEGORIES as readonly string[]).includes(t))
      throw new DrError('USAGE', `--type: "${t}" is not one of ${ENTRY_CATEGORIES.join(', ')}`);
    out.add(t as EntryCategory);
  }
  return out;
}
