/**
 * The daemon's jobs in memory: at most one unfinished job per policy and kind (a second request joins
 * the first), the newest KEEP_FINISHED_JOBS kept for the API, and the graceful drain at stop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PolicyConfig } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import { DrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { JobKind, JobTrigger, JobView } from '../http/api-types.js';
import { Job } from './job.js';

const KEEP_FINISHED_JOBS = 500;

export class JobQueue {
  private readonly jobs = new Map<string, Job>();

  constructor(
    /** runs a job to its final state; a throw marks it failed (INTERNAL) */
    private readonly run: (job: Job) => Promise<void>,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  enqueue(
    kind: JobKind,
    p: PolicyConfig,
    trigger: JobTrigger,
    deadline: Date,
  ): { job: Job; created: boolean } {
    for (const j of this.jobs.values()) {
      if (!j.final && j.kind === kind && j.policy === p.name) return { job: j, created: false };
    }
    const job = new Job(kind, p.cluster, p.name, trigger, this.clock.now(), deadline);
    this.jobs.set(job.id, job);
    this.trim();
    job.done = this.run(job).catch((err: unknown) => {
      this.log.error({ job: job.id, err: String(err) }, 'job crashed');
      job.state = 'failed';
      job.error = { code: 'INTERNAL', message: String(err) };
    });
    return { job, created: true };
  }

  get(id: string): JobView | undefined {
    return this.jobs.get(id)?.view();
  }

  /** newest first */
  list(): JobView[] {
    return [...this.jobs.values()].map((j) => j.view()).reverse();
  }

  /**
   * Queued and waiting jobs are cancelled at once; running ones get graceMs to finish and are then
   * aborted (an aborted upload leaves nothing visible). Resolves when every job is final.
   */
  async drain(graceMs: number): Promise<void> {
    const pending = [...this.jobs.values()].filter((j) => !j.final);
    for (const j of pending)
      if (j.state !== 'running') j.abort.abort(new DrError('ABORTED', 'daemon shutting down'));
    const running = pending.filter((j) => j.state === 'running');
    if (running.length > 0) {
      this.log.info({ jobs: running.map((j) => j.id), graceMs }, 'waiting for running jobs');
      const all = Promise.all(running.map((j) => j.done));
      const timer = new AbortController();
      const timedOut = await Promise.race([
        all.then(() => false),
        sleep(graceMs, true, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (timedOut) {
        this.log.warn(
          { jobs: running.filter((j) => !j.final).map((j) => j.id) },
          'grace period over: aborting running jobs',
        );
        for (const j of running) j.abort.abort(new DrError('ABORTED', 'daemon shutting down'));
      }
    }
    await Promise.all(pending.map((j) => j.done));
  }

  private trim(): void {
    if (this.jobs.size <= KEEP_FINISHED_JOBS) return;
    for (const [id, j] of this.jobs) {
      if (this.jobs.size <= KEEP_FINISHED_JOBS) break;
      if (j.final) this.jobs.delete(id);
    }
  }
}
