/**
 * A job is one request to run a policy (or to verify its newest backup), from its trigger until it
 * succeeds, fails for good or is cancelled. A backup job may make several attempts (retries with
 * backoff inside the schedule window); each attempt is recorded in the catalog and counted in the
 * metrics. Jobs live in memory: the catalog's attempt table is the durable history.
 */
import { randomUUID } from 'node:crypto';
import type { JobKind, JobState, JobTrigger, JobView } from '../http/api-types.js';

export class Job {
  readonly id = randomUUID();
  readonly abort = new AbortController();
  state: JobState = 'queued';
  attempts = 0;
  startedAt: Date | null = null;
  finishedAt: Date | null = null;
  nextAttemptAt: Date | null = null;
  backupId: string | null = null;
  error: { code: string; message: string } | null = null;
  /** settles when the job reaches a final state */
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly kind: JobKind,
    readonly cluster: string,
    readonly policy: string,
    readonly trigger: JobTrigger,
    readonly createdAt: Date,
    /** retries stop when the next one would start after this (the next scheduled run) */
    readonly deadline: Date,
  ) {}

  get final(): boolean {
    return this.state === 'succeeded' || this.state === 'failed' || this.state === 'cancelled';
  }

  view(): JobView {
    const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
    return {
      id: this.id,
      kind: this.kind,
      cluster: this.cluster,
      policy: this.policy,
      trigger: this.trigger,
      state: this.state,
      attempts: this.attempts,
      createdAt: this.createdAt.toISOString(),
      startedAt: iso(this.startedAt),
      finishedAt: iso(this.finishedAt),
      nextAttemptAt: iso(this.nextAttemptAt),
      backupId: this.backupId,
      error: this.error,
    };
  }
}
