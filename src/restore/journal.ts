/**
 * The restore journal: one JSON document, rewritten atomically (temp file, fsync, rename, fsync the
 * directory) after every step change, so a crash leaves either the previous or the next state on disk.
 * It holds the whole plan and the manifest: `resumeRestore(journalFile)` needs nothing else.
 */
import { readFile } from 'node:fs/promises';
import { DrError } from '../core/errors.js';
import { writeTextAtomic } from '../core/safe-file.js';
import type { Manifest } from '../manifest/manifest.js';
import type { RestorePlan } from './plan.js';
import type { VerifyReport } from './verify.js';

export const JOURNAL_FORMAT_VERSION = 1;

export type StepState = 'pending' | 'running' | 'done' | 'failed';

export interface JournalStep {
  id: string;
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  /** how many times the step was started (a resume redoes a running or failed step) */
  attempts: number;
  error?: { code: string; message: string };
  /** step-specific progress, e.g. { toolDone: true } once the restore tool has finished */
  detail?: Record<string, unknown>;
}

export interface Journal {
  formatVersion: number;
  status: 'running' | 'failed' | 'done';
  startedAt: string;
  updatedAt: string;
  manifest: Manifest;
  plan: RestorePlan;
  /** the verified plain snapshot the members are restored from */
  snapshotFile: string;
  /**
   * true when snapshotFile is dr's own scratch copy fetched from storage (removed once the restore is
   * done); false or absent when the operator gave the file, which dr never deletes
   */
  snapshotIsScratch?: boolean;
  steps: JournalStep[];
  /** HashKV of the snapshot file at the backup revision, computed offline (the hash-offline step) */
  offlineHashKV?: { hash: number; revision: string };
  verification?: VerifyReport;
}

export function newJournal(
  plan: RestorePlan,
  manifest: Manifest,
  snapshotFile: string,
  now: Date,
  snapshotIsScratch = false,
): Journal {
  return {
    formatVersion: JOURNAL_FORMAT_VERSION,
    status: 'running',
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    manifest,
    plan,
    snapshotFile,
    snapshotIsScratch,
    steps: plan.steps.map((s) => ({ id: s.id, state: 'pending', attempts: 0 })),
  };
}

export async function readJournal(file: string): Promise<Journal> {
  let j: Journal;
  try {
    j = JSON.parse(await readFile(file, 'utf8')) as Journal;
  } catch (err) {
    throw new DrError('CONFIG_INVALID', `restore journal ${file}: cannot be read: ${(err as Error).message}`);
  }
  if (j.formatVersion !== JOURNAL_FORMAT_VERSION || !j.plan || !Array.isArray(j.steps)) {
    throw new DrError(
      'CONFIG_INVALID',
      `restore journal ${file}: not a dr restore journal (format ${String(j.formatVersion)})`,
    );
  }
  return j;
}

/**
 * Serialises writes: parallel steps update the journal concurrently, and each write must see every
 * earlier change.
 */
export class JournalWriter {
  private chain: Promise<void> = Promise.resolve();
  constructor(
    readonly file: string,
    readonly journal: Journal,
    private readonly now: () => Date,
  ) {}

  step(id: string): JournalStep {
    const s = this.journal.steps.find((x) => x.id === id);
    if (!s) throw new DrError('INTERNAL', `restore journal: no step ${id}`);
    return s;
  }

  update(mutate: (j: Journal) => void): Promise<void> {
    mutate(this.journal);
    this.journal.updatedAt = this.now().toISOString();
    const text = JSON.stringify(this.journal, null, 2) + '\n';
    this.chain = this.chain.then(() => writeAtomic(this.file, text));
    return this.chain;
  }
}

export const writeAtomic = writeTextAtomic;
