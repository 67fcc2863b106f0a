/**
 * Cron schedules: one node-cron task per policy, rebuilt whole on reload. It only says when; what a
 * firing does (jitter, enqueueing the backup) is the daemon's.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { PolicyConfig } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

export class PolicyScheduler {
  private readonly tasks = new Map<string, ScheduledTask>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
  ) {}

  schedule(policies: readonly PolicyConfig[], fire: (policyName: string) => void): void {
    for (const p of policies) {
      const task = createTask(p.schedule, () => fire(p.name), {
        timezone: p.timezone,
        name: `policy:${p.name}`,
        logger: cronLogger(this.log),
      });
      this.tasks.set(p.name, task);
      void task.start();
    }
  }

  unschedule(): void {
    for (const t of this.tasks.values()) void t.destroy();
    this.tasks.clear();
  }

  nextRun(policyName: string): Date | null {
    return this.tasks.get(policyName)?.getNextRun() ?? null;
  }

  /** Retries of a run that starts now stop here: the next scheduled run, or one interval on if sooner. */
  deadline(p: PolicyConfig): Date {
    const next = this.nextRun(p.name);
    const byInterval = new Date(this.clock.now().getTime() + p.expectedIntervalSeconds * 1000);
    return next && next < byInterval ? next : byInterval;
  }
}

/** node-cron's own messages (missed executions, ...) into the daemon's JSON log. */
function cronLogger(log: Logger) {
  const l = log.child({ component: 'cron' });
  return {
    info: (m: string) => l.info(m),
    warn: (m: string) => l.warn(m),
    error: (m: string | Error, err?: Error) => l.error({ err: String(err ?? m) }, String(m)),
    debug: (m: string | Error) => l.debug(String(m)),
  };
}
