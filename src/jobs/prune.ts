/**
 * `dr prune`: the retention the daemon applies after each backup, on demand, for every configured
 * policy and storage target (or for one --storage and --cluster-name with --keep-* flags). The catalog
 * is first brought in line with storage (the manifests are the truth), then each scope is decided and,
 * unless it is a dry run, applied.
 */
import type { Config, PolicyConfig } from '../config/load.js';
import type { ManifestTrust } from '../manifest/manifest-signature.js';
import type { RetentionPolicy } from '../retention/apply-retention.js';
import { bindSignal } from '../storage/cancel.js';
import { leasedRetention, type LeaseSettings } from './leased.js';
import { type RetentionDeps, type RetentionReport, type RetentionScope } from './retention-run.js';
import type { StorageTarget } from '../storage/backend.js';

export interface PruneItem {
  target: StorageTarget;
  scope: RetentionScope;
}

/** One retention scope per (policy, storage target) of a config; storage targets by name. */
export function pruneScopesFromConfig(
  config: Config,
  only: { cluster?: string; policy?: string } = {},
): { storage: string; scope: RetentionScope }[] {
  return config.policies
    .filter(
      (p) =>
        (only.cluster === undefined || p.cluster === only.cluster) &&
        (only.policy === undefined || p.name === only.policy),
    )
    .flatMap((p) => p.storage.map((storage) => ({ storage, scope: policyScope(p) })));
}

export function policyScope(p: PolicyConfig): RetentionScope {
  return { cluster: p.cluster, policy: p.name, rules: retentionRules(p.retention), timezone: p.timezone };
}

/** The config's retention block as the retention module takes it (unset rules left out). */
export function retentionRules(r: PolicyConfig['retention']): RetentionPolicy {
  const out: RetentionPolicy = {};
  for (const k of [
    'keepLast',
    'keepHourly',
    'keepDaily',
    'keepWeekly',
    'keepMonthly',
    'keepYearly',
  ] as const) {
    const v = r[k];
    if (v !== undefined) out[k] = v;
  }
  if (r.keepWithin !== undefined) out.keepWithin = r.keepWithin;
  return out;
}

export async function prune(
  deps: RetentionDeps & { lease?: LeaseSettings },
  items: PruneItem[],
  opts: { dryRun: boolean; signal?: AbortSignal; trust?: ManifestTrust },
): Promise<RetentionReport[]> {
  const synced = new Set<string>();
  for (const { target } of items) {
    if (synced.has(target.backend.location)) continue;
    synced.add(target.backend.location);
    opts.signal?.throwIfAborted();
    const r = await deps.catalog.sync(bindSignal(target.backend, opts.signal), {
      logger: deps.logger,
      trust: opts.trust,
    });
    for (const bad of r.invalid)
      deps.logger.warn({ key: bad.key, err: bad.error }, 'prune: unreadable manifest left alone');
  }
  const reports: RetentionReport[] = [];
  for (const { target, scope } of items) {
    opts.signal?.throwIfAborted();
    reports.push(await leasedRetention(deps, target, scope, { dryRun: opts.dryRun, signal: opts.signal }));
  }
  return reports;
}
