/**
 * Output rules: with --json a command prints exactly one JSON document on stdout; otherwise a table or a
 * few lines for people. Diagnostics and progress go to stderr. bigint values are printed as decimal strings.
 */
import { createRequire } from 'node:module';
import type TableCtor from 'cli-table3';
import { DrError } from '../core/errors.js';

// loaded on first use: most commands that run unattended (backup, verify) print no table
const require = createRequire(import.meta.url);

export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

export function printJson(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}

export function printTable(head: string[], rows: (string | number)[][]): void {
  const Table = require('cli-table3') as typeof TableCtor;
  const table = new Table({
    head,
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
  for (const r of rows) table.push(r.map(String));
  process.stdout.write(table.toString() + '\n');
}

export function printLines(lines: string[]): void {
  process.stdout.write(lines.join('\n') + '\n');
}

export function printError(err: DrError, json: boolean): void {
  if (json) printJson({ ok: false, error: err.toJSON() });
  else process.stderr.write(`dr: error ${err.code}: ${err.message}\n`);
}

/**
 * A snapshot hash for people (tables, lines): hex without padding, as `etcdctl snapshot status -w table`
 * prints it. JSON output keeps the number itself (decimal), as `-w json` does: one form per output kind.
 */
export function formatHash(hash: number): string {
  return (hash >>> 0).toString(16);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatAge(from: Date, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
