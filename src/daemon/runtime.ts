/**
 * A runtime is the set of live resources one config generation needs: a storage backend per storage
 * target and an etcd client per cluster. A reload builds a new runtime; the old one is retired and
 * closed once the last job that started on it has finished, so running uploads are never cut off.
 */
import type { KeyObject } from 'node:crypto';
import { connectionOf, storageUrlOf } from '../config/connection.js';
import { manifestTrustOf, signingKeyOf } from '../config/manifest-keys.js';
import type { ManifestTrust } from '../manifest/manifest-signature.js';
import type { ClusterConfig, Config, PolicyConfig } from '../config/load.js';
import { isDrError, toDrError } from '../core/errors.js';
import { checkTargetLocks } from '../storage/object-lock.js';
import type { Logger } from '../core/logger.js';
import type { EtcdClient } from '../etcd/client.js';
import type { EtcdConnectionOptions } from '../etcd/types.js';
import type { BackupJobSpec } from '../jobs/backup-job.js';
import { retentionRules } from '../jobs/prune.js';
import { lockedTargets } from '../jobs/policy-lock.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { StorageTarget } from '../storage/backend.js';
import type { OpenBackend } from '../storage/open-backend.js';

export type CreateEtcd = (conn: EtcdConnectionOptions, opts: { logger: Logger }) => EtcdClient;

export { connectionOf, storageUrlOf };
export type { OpenBackend };

export class Runtime {
  private users = 0;
  private retired = false;
  private closed: Promise<void> | null = null;

  private constructor(
    readonly config: Config,
    readonly targets: ReadonlyMap<string, StorageTarget>,
    /** what manifests read from storage must satisfy (config `manifests.verifyKeyFile`) */
    readonly trust: ManifestTrust,
    /** signs every manifest written (config `manifests.signKeyFile`) */
    private readonly signKey: KeyObject | null,
    private readonly clients: Map<string, EtcdClient>,
    private readonly createEtcd: CreateEtcd,
    private readonly logger: Logger,
  ) {}

  /** Opens every storage backend (no network check: an unreachable storage must not stop the daemon). */
  static async open(
    config: Config,
    deps: { openBackend: OpenBackend; createEtcd: CreateEtcd; logger: Logger },
  ): Promise<Runtime> {
    const targets = new Map<string, StorageTarget>();
    // a key file that cannot be read or is not Ed25519 refuses the config, as a bad TLS file does
    const trust = manifestTrustOf(config);
    const signKey = signingKeyOf(config);
    try {
      for (const s of config.storage) {
        targets.set(s.name, {
          name: s.name,
          backend: await deps.openBackend(storageUrlOf(s), { logger: deps.logger }),
        });
      }
    } catch (err) {
      await Promise.all([...targets.values()].map((t) => t.backend.close().catch(() => undefined)));
      throw toDrError(err, 'CONFIG_INVALID');
    }
    return new Runtime(config, targets, trust, signKey, new Map(), deps.createEtcd, deps.logger);
  }

  /**
   * The start-up check of Object Lock: every target of a policy with objectLock (and verifyBucket)
   * must say it locks. A definite no (OBJECT_LOCK_UNAVAILABLE) throws: the daemon refuses to start
   * rather than write unlocked backups. A target that cannot be reached now is only logged: each
   * backup checks again before it writes, and fails while the check fails.
   */
  async checkObjectLocks(signal?: AbortSignal): Promise<void> {
    for (const p of this.config.policies) {
      if (!p.objectLock?.verifyBucket) continue;
      for (const name of p.storage) {
        const t = this.targets.get(name);
        if (!t) continue;
        try {
          await checkTargetLocks(t.backend, signal ? { signal } : {});
          this.logger.info(
            { policy: p.name, storage: name, mode: p.objectLock.mode },
            'object lock: bucket checked',
          );
        } catch (err) {
          if (isDrError(err) && err.details.transient === true) {
            this.logger.warn(
              { policy: p.name, storage: name, code: err.code, err: err.message },
              'object lock: bucket not checked now; every backup checks it before writing',
            );
            continue;
          }
          throw toDrError(err, 'OBJECT_LOCK_UNAVAILABLE', `policy ${p.name} on storage ${name}`);
        }
      }
    }
  }

  policy(name: string): PolicyConfig | undefined {
    return this.config.policies.find((p) => p.name === name);
  }

  cluster(name: string): ClusterConfig | undefined {
    return this.config.clusters.find((c) => c.name === name);
  }

  /** etcd clients are created on first use: a cluster that is down must not fail the start. */
  etcd(cluster: string): EtcdClient {
    let c = this.clients.get(cluster);
    if (!c) {
      const cfg = this.cluster(cluster);
      if (!cfg) throw toDrError(new Error(`no cluster ${cluster} in the config`), 'CONFIG_INVALID');
      c = this.createEtcd(connectionOf(cfg), { logger: this.logger });
      this.clients.set(cluster, c);
    }
    return c;
  }

  /** A policy with objectLock writes through locked views of its targets (checked before each backup). */
  jobSpec(p: PolicyConfig, clock: Clock = systemClock): BackupJobSpec {
    const cluster = this.cluster(p.cluster)!;
    return {
      cluster: p.cluster,
      policy: p.name,
      compressionLevel: p.compressionLevel,
      snapshotFrom: cluster.snapshotFrom,
      verifyAfterUpload: p.verifyAfterUpload,
      retention: retentionRules(p.retention),
      timezone: p.timezone,
      encryption: p.encryption ?? null,
      signKey: this.signKey,
      targets: lockedTargets(
        p.storage.map((s) => this.targets.get(s)!),
        p,
        clock,
      ),
    };
  }

  /** Marks the runtime as used by a job; the returned function ends the use. */
  use(): () => void {
    this.users++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.users--;
      if (this.retired && this.users === 0) void this.close();
    };
  }

  /** No new job starts on it; it closes when its last job ends. */
  retire(): void {
    this.retired = true;
    if (this.users === 0) void this.close();
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const c of this.clients.values()) {
        try {
          c.close();
        } catch {
          // closing a channel that never connected may throw; nothing to release then
        }
      }
      await Promise.all([...this.targets.values()].map((t) => t.backend.close().catch(() => undefined)));
    })();
    return this.closed;
  }
}
