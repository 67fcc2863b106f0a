/** How a restore that stops is reported: refusals before any change, and what was done / not done after. */
import { DrError, toDrError } from '../core/errors.js';
import type { Journal } from './journal.js';
import type { RestorePlan } from './plan.js';

export function refused(plan: RestorePlan, why: string): DrError {
  return new DrError(
    'RESTORE_REFUSED',
    `restore refused (${why}): ${plan.refusals.map((r) => r.message).join('; ')}`,
    {
      refusals: plan.refusals,
    },
  );
}

/** The report of a failed restore: what was done, what was not, how to roll back (newest first). */
export interface RestoreFailureReport {
  journalFile: string;
  failedStep: string | null;
  done: string[];
  notDone: string[];
  rollback: { step: string; how: string }[];
  resume: string;
}

export function failure(j: Journal, file: string, err: unknown): DrError {
  const e = toDrError(err, 'INTERNAL', 'restore');
  const byId = new Map(j.plan.steps.map((s) => [s.id, s]));
  const done = j.steps.filter((s) => s.state === 'done').map((s) => s.id);
  const failedStep = j.steps.find((s) => s.state === 'failed' || s.state === 'running')?.id ?? null;
  const report: RestoreFailureReport = {
    journalFile: file,
    failedStep,
    done,
    notDone: j.steps.filter((s) => s.state !== 'done').map((s) => s.id),
    rollback: j.steps
      .filter((s) => s.state !== 'pending')
      .reverse()
      .map((s) => ({ step: s.id, how: byId.get(s.id)!.rollback })),
    resume: `dr restore --resume ${file}`,
  };
  return new DrError(
    e.code,
    `${e.message}\nrestore stopped${failedStep ? ` at step ${failedStep}` : ''}: done ${done.length}/${j.steps.length} steps` +
      ` (done: ${done.join(', ') || 'none'}; not done: ${report.notDone.join(', ') || 'none'}); ` +
      `fix the cause and run "${report.resume}", or roll back (see the journal and the runbook).`,
    { ...e.details, ...report },
    { cause: err },
  );
}
