/**
 * Work that removes from storage, under the lease of the prefix it removes from (src/storage/lease.ts):
 * retention of one cluster holds `<cluster>/.dr-lease.json`; gc holds its cluster's lease, or, over the
 * whole target, the target's own `.dr-lease.json`. `dr prune`, `dr gc`, the daemon's retention after a
 * backup and its hourly clean-up all come through here, so two processes never prune one cluster at once.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { collectStorageGarbage, type GcResult } from '../pipeline/gc.js';
import { collectLogGarbage } from '../revlog/log-gc.js';
import type { Backend, StorageTarget } from '../storage/backend.js';
import { LEASE_FILE, leaseKey, withLease, type LeaseOwner } from '../storage/lease.js';
import {
  runRetention,
  type RetentionDeps,
  type RetentionReport,
  type RetentionScope,
} from './retention-run.js';

export interface LeaseSettings {
  owner: LeaseOwner;
  /** Take the lease even when another holder's is live (`--break-lease`). */
  breakLease?: boolean;
  /** @default DEFAULT_LEASE_TTL_MS */
  ttlMs?: number;
  /** @default LeaseOptions' default */
  renewEveryMs?: number;
}

/** Who holds a lease when the caller did not say (a library call): still a lease, with a vague owner. */
const UNNAMED: LeaseOwner = { host: 'unknown', pid: 0, command: 'dr' };

function leaseOptions(
  l: LeaseSettings | undefined,
  deps: { clock: Clock; logger: Logger },
  signal: AbortSignal | undefined,
) {
  return {
    owner: l?.owner ?? UNNAMED,
    clock: deps.clock,
    logger: deps.logger,
    ...(l?.breakLease ? { breakLease: true } : {}),
    ...(l?.ttlMs !== undefined ? { ttlMs: l.ttlMs } : {}),
    ...(l?.renewEveryMs !== undefined ? { renewEveryMs: l.renewEveryMs } : {}),
    ...(signal ? { signal } : {}),
  };
}

export function leasedRetention(
  deps: RetentionDeps & { lease?: LeaseSettings },
  target: StorageTarget,
  scope: RetentionScope,
  opts: { dryRun?: boolean; signal?: AbortSignal } = {},
): Promise<RetentionReport> {
  // A dry run removes nothing and needs no lease (it must not stand in a real prune's way either).
  if (opts.dryRun) return runRetention(deps, target, scope, opts);
  return withLease(
    target.backend,
    leaseKey(scope.cluster),
    leaseOptions(deps.lease, deps, opts.signal),
    (signal) => runRetention(deps, target, scope, { ...opts, signal }),
  );
}

export function leasedGc(
  backend: Backend,
  opts: {
    clock: Clock;
    logger: Logger;
    lease?: LeaseSettings;
    minAgeMs: number;
    dryRun: boolean;
    cluster?: string;
    signal?: AbortSignal;
  },
): Promise<GcResult> {
  const run = async (signal: AbortSignal | undefined): Promise<GcResult> => {
    const o = {
      clock: opts.clock,
      minAgeMs: opts.minAgeMs,
      dryRun: opts.dryRun,
      ...(opts.cluster ? { cluster: opts.cluster } : {}),
      ...(signal ? { signal } : {}),
    };
    const r = await collectStorageGarbage(backend, o);
    // the revision log's leftovers (a segment's data object or signature without its manifest)
    return { ...r, orphans: [...r.orphans, ...(await collectLogGarbage(backend, o))] };
  };
  if (opts.dryRun) return run(opts.signal);
  const key = opts.cluster ? leaseKey(opts.cluster) : LEASE_FILE;
  return withLease(backend, key, leaseOptions(opts.lease, opts, opts.signal), run);
}
