/**
 * A finding is one problem (or one fact worth reporting) found by a check. Checks collect every finding
 * instead of stopping at the first, and never throw on bad data.
 */
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** stable code, e.g. WAL_CRC_MISMATCH; listed in runbooks/README.md */
  code: string;
  /** file path (relative to the data dir when auditing one), or endpoint for online checks */
  file?: string;
  /** byte offset, page id, record index, member id ... whichever locates the problem */
  location?: { offset?: number; page?: number; record?: number; index?: string; member?: string };
  message: string;
  /** runbooks/<file>.md#<section> */
  runbook?: string;
}
