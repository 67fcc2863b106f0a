/**
 * The daemon's scheduled clean-up of what killed or failed backups left in storage: temp files of a
 * file:// put (`<key>.tmp-<hex>`), incomplete multipart uploads of an s3:// put, and data objects whose
 * manifest was never written. The same work as `dr gc`, on a timer, for every configured storage target.
 *
 * Nothing still being written may be touched, by this daemon or by anyone else (a `dr backup` by hand,
 * a second daemon). A leftover is removed only once it is older than the longest backup this target has
 * seen (from the catalog's manifests) times LONGEST_BACKUP_FACTOR, and never younger than MIN_AGE_MS, the
 * default of `dr gc --min-age`. A file:// temp file is aged by its last write, so a slow backup that
 * still writes is never old; an S3 upload is aged from its start.
 *
 * A failing target is logged and skipped; the next run tries again. stop() cancels a run in flight (the
 * requests too) and waits for it, so the daemon's shutdown is not held up by a stalled storage.
 */
import type { Catalog } from '../catalog/catalog.js';
import type { Clock } from '../core/clock.js';
import { toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { GcResult } from '../pipeline/gc.js';
import { leasedGc, type LeaseSettings } from './leased.js';
import type { StorageTarget } from '../storage/backend.js';

/** The floor of a leftover's age before it is removed (as `dr gc --min-age`'s default). */
export const MIN_AGE_MS = 3600_000;
/** A leftover must be older than this many times the longest backup recorded for its target. */
export const LONGEST_BACKUP_FACTOR = 2;
/** How often the daemon cleans up by default. */
export const DEFAULT_CLEANUP_EVERY_MS = 3600_000;

export interface CleanupDeps {
  catalog: Catalog;
  logger: Logger;
  clock: Clock;
  /** who holds the target's lease during a pass (src/jobs/leased.ts) */
  lease?: LeaseSettings;
}

export interface CleanupReport {
  storage: string;
  minAgeMs: number;
  result?: GcResult;
  error?: { code: string; message: string };
}

/** How old a leftover on this target must be before nobody can still be writing it. */
export function leftoverMinAgeMs(catalog: Catalog, location: string): number {
  let longest = 0;
  for (const b of catalog.listBackups(location)) longest = Math.max(longest, b.manifest.durationMs);
  return Math.max(MIN_AGE_MS, LONGEST_BACKUP_FACTOR * longest);
}

/** One clean-up pass over the targets, one after the other; never throws for a target's failure. */
export async function cleanupLeftovers(
  deps: CleanupDeps,
  targets: readonly StorageTarget[],
  opts: { signal?: AbortSignal; minAgeMs?: number } = {},
): Promise<CleanupReport[]> {
  const reports: CleanupReport[] = [];
  for (const t of targets) {
    if (opts.signal?.aborted) break;
    const minAgeMs = opts.minAgeMs ?? leftoverMinAgeMs(deps.catalog, t.backend.location);
    const report: CleanupReport = { storage: t.name, minAgeMs };
    try {
      const result = await leasedGc(t.backend, {
        clock: deps.clock,
        logger: deps.logger,
        ...(deps.lease ? { lease: deps.lease } : {}),
        minAgeMs,
        dryRun: false,
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      report.result = result;
      const orphans = result.orphans.filter((o) => o.removed).map((o) => o.key);
      const level = orphans.length > 0 || result.incompleteUploadsRemoved > 0 ? 'info' : 'debug';
      deps.logger[level](
        {
          storage: t.name,
          minAgeSeconds: Math.round(minAgeMs / 1000),
          orphansRemoved: orphans,
          incompleteRemoved: result.incompleteUploadsRemoved,
        },
        'cleanup: leftovers of failed or killed backups removed',
      );
    } catch (err) {
      const e = toDrError(err, 'STORAGE_FAILED');
      report.error = { code: e.code, message: e.message };
      deps.logger.warn({ storage: t.name, code: e.code, err: e.message }, 'cleanup: storage target skipped');
    }
    reports.push(report);
  }
  return reports;
}

/**
 * Runs cleanupLeftovers every everyMs (first run after firstDelayMs), one pass at a time. `targets` is
 * asked at each run (a reload changes them) and returns a release function: the runtime the targets
 * belong to stays open until the pass is over.
 */
export class LeftoverCleaner {
  private timer: NodeJS.Timeout | null = null;
  private first: NodeJS.Timeout | null = null;
  private running: Promise<CleanupReport[]> | null = null;
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: CleanupDeps,
    private readonly targets: () => { targets: readonly StorageTarget[]; release: () => void },
  ) {}

  start(everyMs: number, firstDelayMs = Math.min(everyMs, 60_000)): this {
    this.first = setTimeout(() => void this.runOnce(), firstDelayMs);
    this.first.unref();
    this.timer = setInterval(() => void this.runOnce(), everyMs);
    this.timer.unref();
    return this;
  }

  /** One pass now, unless one is running (then that one's result). */
  runOnce(): Promise<CleanupReport[]> {
    if (this.abort.signal.aborted) return Promise.resolve([]);
    this.running ??= (async () => {
      const { targets, release } = this.targets();
      try {
        return await cleanupLeftovers(this.deps, targets, { signal: this.abort.signal });
      } finally {
        release();
      }
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** No further runs; a run in flight is cancelled and awaited. */
  async stop(): Promise<void> {
    if (this.first) clearTimeout(this.first);
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }
}
