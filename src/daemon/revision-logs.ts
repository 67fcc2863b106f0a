/**
 * The revision logs the daemon writes: for every policy with a `revisionLog:` block, the writer of
 * src/revlog/follow-log.ts runs for the policy's cluster, into the block's storage target, encrypted to the
 * policy's recipients like its backups, for as long as the daemon runs. Each writer has its own etcd client
 * and backend, so a reload or a backup never cuts its watch or its upload.
 *
 * - Two daemons (an active and a standby) may share a storage: the writer's lease lets one write; the
 *   other's writer fails with LEASE_HELD and keeps retrying, and takes over once the holder's lease expires.
 * - A writer that fails (storage refuses a segment, etcd refuses the watch) is started again after
 *   `retryDelayMs`, doubling up to `maxRetryDelayMs`; the new writer resumes after the chain head, so a
 *   failure loses nothing that etcd still has. (A gap does not end a writer: it records it and goes on in a
 *   new chain; members that fail are watched again inside the writer.)
 * - Stop (shutdown) and reload end every writer: the watch ends and the open segment is committed; a
 *   reload then starts the writers of the new config.
 * - A gap makes the daemon take a full backup of the policy at once (`onGap`): the new chain needs a base.
 * - Metrics (src/metrics/log-metrics.ts): up and down-since, committed and watched revisions, how long
 *   the oldest uncommitted revision has waited, segments, gaps (the newest gap's time is read back from
 *   storage at start, so a restart does not hide it). policies/log-alerts.rules.yml alerts on them.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config, PolicyConfig } from '../config/load.js';
import { connectionOf, storageUrlOf } from '../config/connection.js';
import { systemClock, type Clock } from '../core/clock.js';
import { toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { resolveRecipients } from '../crypto/key-files.js';
import { createEtcdClient } from '../etcd/client.js';
import {
  forgetLogMetrics,
  seedLogMetrics,
  setLogStandby,
  setLogUp,
  type LogMetrics,
} from '../metrics/log-metrics.js';
import { followRevisionLog } from '../revlog/follow-log.js';
import { readGapRecord, type GapRecord } from '../revlog/gap.js';
import type { RevlogObserver } from '../revlog/revlog-metrics.js';
import type { SegmentManifest } from '../revlog/segment-manifest.js';
import { logPrefix, parseLogKey } from '../revlog/layout.js';
import type { Backend } from '../storage/backend.js';
import { openBackend as defaultOpenBackend, type OpenBackend } from '../storage/open-backend.js';
import { createHash } from 'node:crypto';
import { signingKeyOf } from '../config/manifest-keys.js';
import { Secret } from '../config/secret.js';
import type { CreateEtcd } from './runtime.js';

export interface RevisionLogsOptions {
  logger: Logger;
  metrics: LogMetrics;
  clock?: Clock;
  openBackend?: OpenBackend;
  createEtcd?: CreateEtcd;
  /** first wait before a failed writer starts again; doubles per failure. @default 5000 */
  retryDelayMs?: number;
  /** @default 300000 */
  maxRetryDelayMs?: number;
  /** called when a policy's log records a gap (the daemon takes a full backup then) */
  onGap?: (policy: string) => void;
}

interface Running {
  cluster: string;
  policy: string;
  /** what the writer was started from (fingerprintOf): a reload keeps a writer whose inputs are unchanged */
  fingerprint: string;
  /** the writer failed and waits to start again: a reload starts it at once */
  state: { failing: boolean };
  abort: AbortController;
  done: Promise<void>;
}

/**
 * Everything a policy's writer is started from: the policy, its cluster's connection, the log's storage
 * target and the signing key file. Hashed: the connection may hold a password.
 */
function fingerprintOf(config: Config, p: PolicyConfig): string {
  const cluster = config.clusters.find((c) => c.name === p.cluster);
  const target = config.storage.find((t) => t.name === p.revisionLog?.storage);
  // a Secret prints as "[redacted]" (also through toJSON): its value goes into the hash, so that a new
  // password restarts the writer; `this[key]` is the property before toJSON
  function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
    const raw = this[key];
    return raw instanceof Secret
      ? raw.resolved
        ? `secret:${raw.reveal()}`
        : `unresolved:${raw.source}`
      : value;
  }
  return createHash('sha256')
    .update(JSON.stringify({ p, cluster, target, signKeyFile: config.manifests.signKeyFile }, replacer))
    .digest('hex');
}

export class RevisionLogs {
  private readonly running = new Map<string, Running>();
  private readonly clock: Clock;
  private readonly log: Logger;

  private constructor(private readonly opts: RevisionLogsOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ component: 'revlog' });
  }

  static start(config: Config, opts: RevisionLogsOptions): RevisionLogs {
    const r = new RevisionLogs(opts);
    r.startAll(config);
    return r;
  }

  /** The policies whose logs run, by name. */
  policies(): string[] {
    return [...this.running.keys()];
  }

  /** `restarted`: policies whose writer this reload stopped, of the same cluster: their metrics go on */
  private startAll(config: Config, restarted: ReadonlySet<string> = new Set()): void {
    for (const p of config.policies) {
      if (!p.revisionLog || this.running.has(p.name)) continue;
      if (restarted.has(p.name))
        this.opts.metrics.lagThreshold.set(
          { cluster: p.cluster, policy: p.name },
          p.revisionLog.lagAlertSeconds,
        );
      else
        seedLogMetrics(this.opts.metrics, {
          cluster: p.cluster,
          policy: p.name,
          lagAlertSeconds: p.revisionLog.lagAlertSeconds,
          now: this.clock.now(),
          lastGap: null,
        });
      const abort = new AbortController();
      const state = { failing: false };
      const done = this.keepRunning(config, p, abort.signal, state);
      this.running.set(p.name, {
        cluster: p.cluster,
        policy: p.name,
        fingerprint: fingerprintOf(config, p),
        state,
        abort,
        done,
      });
    }
  }

  private async stopSome(which: (r: Running) => boolean): Promise<Running[]> {
    const was = [...this.running.values()].filter(which);
    for (const r of was) {
      this.running.delete(r.policy);
      r.abort.abort(new Error('revision log stopped'));
    }
    await Promise.all(was.map((r) => r.done));
    return was;
  }

  /**
   * Ends the writers whose policy is gone or changed (its log block, cluster, storage target, encryption
   * or the signing key: each commits its open segment), and those waiting to start again after a
   * failure, and starts those of the new config; a running writer whose inputs are the same keeps
   * running, its segment open.
   */
  async reload(config: Config): Promise<void> {
    const was = await this.stopSome((r) => {
      const p = config.policies.find((x) => x.name === r.policy);
      return !p?.revisionLog || r.state.failing || fingerprintOf(config, p) !== r.fingerprint;
    });
    const sameCluster = (r: Running) =>
      config.policies.find((x) => x.name === r.policy)?.cluster === r.cluster;
    this.startAll(config, new Set(was.filter(sameCluster).map((r) => r.policy)));
    for (const r of was) {
      if (!this.running.has(r.policy) || this.running.get(r.policy)!.cluster !== r.cluster)
        forgetLogMetrics(this.opts.metrics, r.cluster, r.policy);
    }
    if (was.length > 0)
      this.log.info(
        { restarted: was.map((r) => r.policy) },
        'revision log: writers of changed policies restarted',
      );
  }

  /** Ends every writer; each commits its open segment. */
  async stop(): Promise<void> {
    await this.stopSome(() => true);
  }

  private async keepRunning(
    config: Config,
    p: PolicyConfig,
    signal: AbortSignal,
    state: { failing: boolean },
  ): Promise<void> {
    const rl = p.revisionLog!;
    const log = this.log.child({ cluster: p.cluster, policy: p.name });
    const cluster = config.clusters.find((c) => c.name === p.cluster)!;
    const target = config.storage.find((s) => s.name === rl.storage)!;
    const m = this.opts.metrics;
    const counting = logMetricsObserver(m, p.cluster, p.name, () => this.clock.now());
    const observer: RevlogObserver = {
      ...counting,
      gapRecorded: (g) => {
        counting.gapRecorded(g);
        this.opts.onGap?.(p.name);
      },
    };
    const watching = (endpoint: string | null): void => {
      if (endpoint !== null) state.failing = false;
      setLogUp(m, p.cluster, p.name, endpoint !== null, this.clock.now());
    };
    const base = this.opts.retryDelayMs ?? 5000;
    let delay = base;
    let backend: Backend | undefined;
    let gapsRead = false;
    const etcd = (this.opts.createEtcd ?? createEtcdClient)(connectionOf(cluster), { logger: log });
    try {
      while (!signal.aborted) {
        try {
          backend ??= await (this.opts.openBackend ?? defaultOpenBackend)(storageUrlOf(target), {
            logger: log,
          });
          if (!gapsRead) {
            gapsRead = true;
            await this.seedLastGap(backend, p).catch((err: unknown) =>
              log.warn({ err: (err as Error).message }, 'revision log: gap records not read'),
            );
          }
          const recipients = p.encryption ? await resolveRecipients(p.encryption) : [];
          const r = await followRevisionLog(
            {
              etcd,
              backend,
              logger: log,
              clock: this.clock,
              observer: { ...observer, watching },
              owner: { host: os.hostname(), pid: process.pid, command: 'dr daemon' },
            },
            {
              clusterName: p.cluster,
              segmentSeconds: rl.segmentSeconds,
              segmentMaxBytes: rl.segmentMaxBytes,
              checkpointEverySeconds: rl.checkpointEverySeconds,
              recipients,
              // the segment manifests are signed as the daemon's backup manifests are
              signKey: signingKeyOf(config),
              signal,
            },
          );
          watching(null);
          delay = base;
          if (!signal.aborted) {
            // the writer returns only when stopped; never spin if it did not
            log.warn({ gaps: r.gaps.length }, 'revision log: writer returned; starting it again');
            await sleep(base, undefined, { signal }).catch(() => undefined);
          }
        } catch (err) {
          watching(null);
          state.failing = true;
          const e = toDrError(err);
          setLogStandby(m, p.cluster, p.name, e.code === 'LEASE_HELD');
          log.error(
            { code: e.code, err: e.message, retryInMs: delay },
            'revision log: writer failed; it starts again after the chain head',
          );
          await sleep(delay, undefined, { signal }).catch(() => undefined);
          // a standby asks at least every 30 s, so it takes over soon after the holder's lease expires
          delay = Math.min(
            delay * 2,
            this.opts.maxRetryDelayMs ?? 300_000,
            e.code === 'LEASE_HELD' ? 30_000 : Infinity,
          );
        }
      }
    } finally {
      etcd.close();
      await backend?.close().catch(() => undefined);
    }
  }

  /** The newest gap record's time, so that a restart does not hide a recent gap from its alert. */
  private async seedLastGap(backend: Backend, p: PolicyConfig): Promise<void> {
    let newest: Date | null = null;
    for await (const o of backend.list(`${logPrefix(p.cluster)}gaps/`)) {
      if (parseLogKey(o.key)?.kind !== 'gap') continue;
      const g = await readGapRecord(backend, o.key);
      const at = new Date(g.detectedAt);
      if (!newest || at > newest) newest = at;
    }
    if (newest)
      this.opts.metrics.lastGap.set({ cluster: p.cluster, policy: p.name }, newest.getTime() / 1000);
  }
}

/**
 * The writer's observer, exporting to the series of one policy. "Uncommitted since" starts when a
 * revision newer than the last commit is first seen, and clears when a commit reaches what was seen.
 */
function logMetricsObserver(m: LogMetrics, cluster: string, policy: string, now: () => Date): RevlogObserver {
  const l = { cluster, policy };
  let committed = 0n;
  let seen = 0n;
  let waitingSince: Date | null = null;
  const secs = (d: Date) => d.getTime() / 1000;
  const saw = (r: bigint): void => {
    if (r > seen) {
      seen = r;
      m.watchRevision.set(l, Number(r));
    }
    if (seen > committed && waitingSince === null) {
      waitingSince = now();
      m.uncommittedSince.set(l, secs(waitingSince));
    }
  };
  return {
    segmentCommitted: (s: SegmentManifest) => {
      committed = BigInt(s.lastRevision);
      m.committedRevision.set(l, Number(committed));
      m.segments.inc(l);
      m.lastCommit.set(l, secs(now()));
      // what is still uncommitted was read after the segment just committed had closed
      waitingSince = committed >= seen ? null : now();
      m.uncommittedSince.set(l, waitingSince ? secs(waitingSince) : 0);
    },
    gapRecorded: (_g: GapRecord) => {
      m.gaps.inc(l);
      m.lastGap.set(l, secs(now()));
    },
    checkpointTaken: () => undefined,
    // a progress notification: nothing newer than this was written, so nothing waits unless seen later
    watchRevision: (r) => {
      if (r > seen) {
        seen = r;
        m.watchRevision.set(l, Number(r));
      }
    },
    revisionLogged: saw,
  };
}
