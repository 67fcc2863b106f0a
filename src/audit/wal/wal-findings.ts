/**
 * Where the WAL audit's findings collect: every part of the audit reports through one collector, so a
 * finding's file label (`dirLabel/segment`) and runbook link are made the same way everywhere, and the
 * findings keep the order in which the single pass met them.
 */
import type { Finding, Severity } from '../finding.js';

export const WAL_RUNBOOK = 'runbooks/corrupt-wal.md';

export class WalFindings {
  readonly list: Finding[] = [];

  constructor(readonly dirLabel?: string) {}

  /** a file name as findings show it: under the directory label when there is one */
  label(name: string): string {
    return this.dirLabel ? `${this.dirLabel}/${name}` : name;
  }

  /** a finding about `file` (a bare name, labelled here), linked to `anchor` in the WAL runbook */
  add(
    severity: Severity,
    code: string,
    file: string | undefined,
    location: Finding['location'] | undefined,
    message: string,
    anchor: string,
  ): void {
    this.list.push({
      severity,
      code,
      ...(file !== undefined ? { file: this.label(file) } : {}),
      ...(location ? { location } : {}),
      message,
      runbook: `${WAL_RUNBOOK}#${anchor}`,
    });
  }

  /** a finding made whole by the caller (its file already labelled) */
  push(finding: Finding): void {
    this.list.push(finding);
  }
}
