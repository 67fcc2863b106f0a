/**
 * One run of a policy: take the backup, write it to every storage target, verify, record, apply
 * retention, update metrics. Used by the daemon (scheduled, API-triggered, catch-up, retries).
 *
 * Several targets: the snapshot is streamed from etcd once, into the first target; the stored object is
 * then copied to each other target (get -> sha256 check -> put, then the manifest last). One snapshot
 * means every target holds the byte-identical backup with the same id, and etcd is asked once.
 *
 * Outcome: the run succeeds when every target has the backup committed (and verified, if the policy
 * asks). Each target gets its own attempt row in the catalog, so retention of a target whose copy
 * failed is suspended while the other targets carry on. Retention runs only on targets that succeeded;
 * a retention failure is logged and reported, and never turns a committed backup into a failed run.
 */
import { pipeline } from 'node:stream/promises';
import type { Catalog } from '../catalog/catalog.js';
import { DrError, toDrError } from '../core/errors.js';
import type { Manifest } from '../manifest/manifest.js';
import { writeManifest } from '../manifest/manifest-store.js';
import { takeBackup, type SnapshotProvider } from '../pipeline/backup.js';
import { resolveRecipients } from '../crypto/key-files.js';
import type { KeyObject } from 'node:crypto';
import { dataKeyFor } from '../manifest/layout.js';
import { recordVerification } from './record-verification.js';
import { StreamMeter } from '../pipeline/stream-meter.js';
import { verifyBackup } from '../pipeline/verify.js';
import type { RetentionPolicy } from '../retention/apply-retention.js';
import { storageErrorOf } from '../storage/stream-errors.js';
import type { RetentionDeps, RetentionReport } from './retention-run.js';
import { leasedRetention, type LeaseSettings } from './leased.js';
import type { StorageTarget } from '../storage/backend.js';

export interface BackupJobSpec {
  cluster: string;
  policy: string;
  /** zstd level; 0 stores uncompressed */
  compressionLevel: number;
  snapshotFrom: 'follower' | 'leader' | 'any';
  verifyAfterUpload: boolean;
  retention: RetentionPolicy;
  timezone: string;
  /** the first one receives the stream; the others a copy */
  targets: StorageTarget[];
  /** age recipients (inline, and a file read at every run); null or absent stores in the clear */
  encryption?: { recipients: string[]; recipientsFile?: string } | null;
  /** Ed25519 private key: each manifest is signed (manifest/manifest-signature.ts) */
  signKey?: KeyObject | null;
}

export interface BackupJobDeps extends RetentionDeps {
  etcd: SnapshotProvider;
  /** who holds the cluster's lease while retention runs after the backup */
  lease?: LeaseSettings;
}

export interface TargetOutcome {
  storage: string;
  ok: boolean;
  /** null when not verified (verifyAfterUpload off, or the copy failed) */
  verified: boolean | null;
  error: { code: string; message: string } | null;
}

export interface BackupJobResult {
  ok: boolean;
  manifest: Manifest | null;
  startedAt: Date;
  finishedAt: Date;
  targets: TargetOutcome[];
  retention: (RetentionReport | { storage: string; error: string })[];
  /** the first failure, when not ok */
  error: DrError | null;
}

export async function runBackupJob(
  deps: BackupJobDeps,
  spec: BackupJobSpec,
  opts: { signal?: AbortSignal; onProgress?: (received: number, expected: number) => void } = {},
): Promise<BackupJobResult> {
  const { catalog, clock, metrics } = deps;
  const log = deps.logger.child({ cluster: spec.cluster, policy: spec.policy });
  if (spec.targets.length === 0)
    throw new DrError('CONFIG_INVALID', `policy ${spec.policy}: no storage target`);
  const primary = spec.targets[0] as StorageTarget;
  const startedAt = clock.now();
  const outcomes: TargetOutcome[] = [];
  let manifest: Manifest | null = null;
  let firstError = null as DrError | null;

  const fail = (target: StorageTarget, err: unknown, verified: boolean | null = null): void => {
    const e = toDrError(err, 'INTERNAL', `policy ${spec.policy} on ${target.name}`);
    firstError ??= e;
    outcomes.push({ storage: target.name, ok: false, verified, error: { code: e.code, message: e.message } });
  };

  try {
    const encryptTo = spec.encryption ? await resolveRecipients(spec.encryption) : undefined;
    manifest = await takeBackup(
      { etcd: deps.etcd, backend: primary.backend, logger: deps.logger, clock },
      {
        clusterName: spec.cluster,
        policy: spec.policy,
        compressionLevel: spec.compressionLevel,
        snapshotFrom: spec.snapshotFrom,
        encryptTo,
        signKey: spec.signKey ?? null,
        signal: opts.signal,
        onProgress: opts.onProgress,
      },
    );
  } catch (err) {
    for (const t of spec.targets) fail(t, err);
  }

  if (manifest) {
    const m = manifest;
    for (const target of spec.targets) {
      try {
        if (target !== primary) await copyBackup(primary, target, m, opts.signal, spec.signKey);
        cached(catalog, log, (c) => c.upsertBackup(target.backend.location, m));
      } catch (err) {
        fail(target, err);
        continue;
      }
      if (!spec.verifyAfterUpload) {
        outcomes.push({ storage: target.name, ok: true, verified: null, error: null });
        continue;
      }
      try {
        const report = await verifyBackup(target.backend, m, {
          deep: false,
          signal: opts.signal,
        });
        const at = clock.now();
        await recordVerification({ catalog, logger: log }, target.backend, m, report, at, opts.signal);
        metrics?.verifications.inc({
          cluster: spec.cluster,
          policy: spec.policy,
          result: report.ok ? 'success' : 'failure',
        });
        if (report.ok) {
          outcomes.push({ storage: target.name, ok: true, verified: true, error: null });
          metrics?.lastVerified.set({ cluster: spec.cluster, policy: spec.policy }, at.getTime() / 1000);
        } else {
          const failed = report.checks.filter((c) => c.ok === false).map((c) => `${c.check}: ${c.detail}`);
          fail(
            target,
            new DrError(
              'VERIFY_FAILED',
              `backup ${m.id} on ${target.name} failed verification after upload: ${failed.join('; ')}`,
              { checks: report.checks },
            ),
            false,
          );
        }
      } catch (err) {
        fail(target, err);
      }
    }
  }

  const finishedAt = clock.now();
  for (const o of outcomes) {
    const target = spec.targets.find((t) => t.name === o.storage)!;
    cached(catalog, log, (c) =>
      c.recordAttempt({
        cluster: spec.cluster,
        policy: spec.policy,
        storage: target.backend.location,
        startedAt,
        finishedAt,
        result: o.ok ? 'success' : 'failure',
        errorCode: o.error?.code ?? null,
        errorMessage: o.error?.message ?? null,
        backupId: o.ok ? (manifest?.id ?? null) : null,
      }),
    );
  }
  const ok = outcomes.length === spec.targets.length && outcomes.every((o) => o.ok);

  const retention: BackupJobResult['retention'] = [];
  for (const o of outcomes) {
    if (!o.ok) continue;
    const target = spec.targets.find((t) => t.name === o.storage)!;
    try {
      retention.push(
        await leasedRetention(
          deps,
          target,
          { cluster: spec.cluster, policy: spec.policy, rules: spec.retention, timezone: spec.timezone },
          { signal: opts.signal },
        ),
      );
    } catch (err) {
      const message = toDrError(err).message;
      log.warn({ storage: target.name, err: message }, 'retention failed; backups kept');
      retention.push({ storage: target.name, error: message });
    }
  }

  if (metrics) {
    const l = { cluster: spec.cluster, policy: spec.policy };
    metrics.attempts.inc({ ...l, result: ok ? 'success' : 'failure' });
    metrics.duration.observe(l, (finishedAt.getTime() - startedAt.getTime()) / 1000);
    metrics.lastAttempt.set(l, finishedAt.getTime() / 1000);
    if (ok && manifest) {
      metrics.lastSuccess.set(l, Date.parse(manifest.completedAt) / 1000);
      metrics.lastDbSize.set(l, manifest.snapshot.dbSize);
      metrics.lastStoredSize.set(l, manifest.stored.size);
    }
  }
  if (ok)
    log.info(
      { backup: manifest?.id, ms: finishedAt.getTime() - startedAt.getTime() },
      'policy run succeeded',
    );
  else
    log.warn(
      { backup: manifest?.id ?? null, code: firstError?.code, err: firstError?.message },
      'policy run failed',
    );
  return { ok, manifest, startedAt, finishedAt, targets: outcomes, retention, error: ok ? null : firstError };
}

/**
 * Copies a committed backup to another target: the data object (its sha256 checked against the
 * manifest on the way), then the manifest. A failure removes what was published, so the target never
 * shows a backup that is not whole.
 */
export async function copyBackup(
  from: StorageTarget,
  to: StorageTarget,
  manifest: Manifest,
  signal?: AbortSignal,
  signKey?: KeyObject | null,
): Promise<void> {
  const key = dataKeyFor(manifest);
  const meter = new StreamMeter();
  const source = await from.backend.get(key, { signal });
  const piped = pipeline(source, meter).catch((err: unknown) => err);
  let published = false;
  try {
    await to.backend.put(key, meter, { signal });
    published = true;
    const pipeErr = await piped;
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the pipeline failed with
    if (pipeErr) throw pipeErr;
    if (meter.sha256 !== manifest.stored.sha256 || meter.bytes !== manifest.stored.size) {
      throw new DrError(
        'VERIFY_FAILED',
        `copy of backup ${manifest.id} from ${from.name}: read ${meter.bytes} bytes with sha256 ${meter.sha256}, manifest says ${manifest.stored.size} bytes ${manifest.stored.sha256}`,
        { check: 'stored-sha256' },
      );
    }
    await writeManifest(to.backend, manifest, signal, signKey);
  } catch (err) {
    source.destroy();
    await piped;
    if (published) await to.backend.remove(key).catch(() => undefined);
    // a read the source's transport broke off is that storage's error (transient, worth a retry), as the
    // source backend classified it; anything else is the copy's own failure
    throw (
      storageErrorOf(err) ?? toDrError(err, 'STORAGE_FAILED', `copy of backup ${manifest.id} to ${to.name}`)
    );
  }
}

/** The catalog is a cache of storage: failing to write it never fails a committed backup. */
function cached(
  catalog: Catalog,
  log: { warn: (o: object, m: string) => void },
  write: (c: Catalog) => void,
): void {
  try {
    write(catalog);
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'catalog not updated');
  }
}
