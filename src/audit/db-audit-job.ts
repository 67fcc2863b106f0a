/**
 * Runs the db audit of backend files (member/snap/db, *.snap.db, snapshot files) in a worker thread when the
 * compiled worker is available (the dist build), else inline (tests run from source). Either way files are
 * opened read-only and the result is the same.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { openFileSource } from '../formats/file-byte-source.js';
import { auditDb } from './db/audit-db.js';
import type { Finding } from './finding.js';

export interface DbAuditJob {
  path: string;
  /** Finding.file for this file */
  label: string;
}

/** size and mtime: a running etcd commits (and so changes both) every 100 ms while it is written to */
function stamp(p: string): string {
  try {
    const st = statSync(p);
    return `${st.size}/${st.mtimeMs}`;
  } catch {
    return '';
  }
}

/**
 * A running member rewrites the db while it is read: a page freed by one of its commits can be reused by the
 * next one under the walk. When the file changed during the walk and the walk found problems, walk again
 * (a few times): problems that come from the race do not come back.
 */
export function auditDbFile(job: DbAuditJob): Finding[] {
  let out: Finding[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = stamp(job.path);
    out = auditDbFileOnce(job);
    if (!out.some((f) => f.severity !== 'info') || stamp(job.path) === before) return out;
  }
  return out;
}

function auditDbFileOnce(job: DbAuditJob): Finding[] {
  let src;
  try {
    src = openFileSource(job.path);
  } catch (err) {
    return [
      {
        severity: 'error',
        code: 'DB_UNREADABLE',
        file: job.label,
        message: `cannot open ${job.label}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        runbook: 'runbooks/corrupt-db.md#restore-from-backup',
      },
    ];
  }
  try {
    return auditDb(src, job.label);
  } finally {
    src.close();
  }
}

const WORKER = new URL('./db-audit-worker.js', import.meta.url);

/** Audits the files, in a worker thread unless `inline` (or no compiled worker exists). */
export function auditDbFiles(
  jobs: DbAuditJob[],
  opts: { inline?: boolean; signal?: AbortSignal } = {},
): Promise<Finding[][]> {
  if (jobs.length === 0) return Promise.resolve([]);
  const workerFile = WORKER.protocol === 'file:' ? fileURLToPath(WORKER) : null;
  if (opts.inline || !workerFile || !existsSync(workerFile)) {
    return new Promise((resolve, reject) => {
      // yield first, so the caller can start its other (async) audit before this one blocks the thread
      setImmediate(() => {
        try {
          opts.signal?.throwIfAborted();
          resolve(jobs.map(auditDbFile));
        } catch (err) {
          reject(err);
        }
      });
    });
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: { jobs } });
    let settled = false;
    const onAbort = () => void worker.terminate();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    worker.once('message', (m: Finding[][]) => done(() => resolve(m)));
    worker.once('error', (err) => done(() => reject(err)));
    worker.once('exit', (code) =>
      done(() =>
        opts.signal?.aborted
          ? reject(opts.signal.reason as Error)
          : reject(new Error(`db audit worker exited with code ${code}`)),
      ),
    );
  });
}
