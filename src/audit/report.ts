/**
 * An audit report: what was audited, every finding, counts by severity, and the facts the checks
 * established (revisions, indexes, hashes, members), plus the readable rendering `dr audit` prints.
 */
import type { Finding, Severity } from './finding.js';

export type AuditTarget =
  | { kind: 'data-dir'; path: string; walDir?: string }
  | { kind: 'snapshot'; path: string }
  | { kind: 'backup'; id: string; storage: string; cluster: string }
  | { kind: 'cluster'; endpoints: string[] };

export interface AuditSummary {
  errors: number;
  warnings: number;
  infos: number;
}

export interface AuditReport {
  target: AuditTarget;
  /** no error findings (warnings and infos allowed) */
  ok: boolean;
  summary: AuditSummary;
  findings: Finding[];
  facts: Record<string, unknown>;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function summarize(findings: readonly Finding[]): AuditSummary {
  const s = { errors: 0, warnings: 0, infos: 0 };
  for (const f of findings) {
    if (f.severity === 'error') s.errors++;
    else if (f.severity === 'warning') s.warnings++;
    else s.infos++;
  }
  return s;
}

export function makeReport(
  target: AuditTarget,
  findings: Finding[],
  facts: Record<string, unknown>,
): AuditReport {
  const summary = summarize(findings);
  return { target, ok: summary.errors === 0, summary, findings, facts };
}

export function describeTarget(t: AuditTarget): string {
  switch (t.kind) {
    case 'data-dir':
      return `data dir ${t.path}${t.walDir ? ` (wal dir ${t.walDir})` : ''}`;
    case 'snapshot':
      return `snapshot file ${t.path}`;
    case 'backup':
      return `backup ${t.id} (cluster ${t.cluster}) in ${t.storage}`;
    case 'cluster':
      return `cluster at ${t.endpoints.join(', ')}`;
  }
}

export function describeLocation(l: Finding['location']): string {
  if (!l) return '';
  const parts: string[] = [];
  if (l.offset !== undefined) parts.push(`offset ${l.offset}`);
  if (l.page !== undefined) parts.push(`page ${l.page}`);
  if (l.record !== undefined) parts.push(`record ${l.record}`);
  if (l.index !== undefined) parts.push(`index ${l.index}`);
  if (l.member !== undefined) parts.push(`member ${l.member}`);
  return parts.join(', ');
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The report for people: findings grouped by file (files in first-seen order, errors first within a file),
 * each with severity, code, location, message and runbook; then the summary line.
 */
export function formatReport(r: AuditReport, extraFacts: string[] = []): string {
  const lines: string[] = [`dr audit: ${describeTarget(r.target)}`, ...extraFacts.map((l) => `  ${l}`), ''];
  const groups = new Map<string, Finding[]>();
  for (const f of r.findings) {
    const key = f.file ?? '(no single file)';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(f);
  }
  if (groups.size === 0) lines.push('no findings', '');
  for (const [file, fs] of groups) {
    lines.push(file);
    for (const f of [...fs].sort((a, b) => RANK[a.severity] - RANK[b.severity])) {
      const where = describeLocation(f.location);
      lines.push(`  ${f.severity.toUpperCase().padEnd(7)} ${f.code}${where ? `  (${where})` : ''}`);
      lines.push(`          ${f.message}`);
      if (f.runbook) lines.push(`          runbook: ${f.runbook}`);
    }
    lines.push('');
  }
  const { errors, warnings, infos } = r.summary;
  lines.push(
    `${r.ok ? 'OK' : 'FAILED'}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}, ${plural(infos, 'info')}`,
  );
  return lines.join('\n') + '\n';
}
