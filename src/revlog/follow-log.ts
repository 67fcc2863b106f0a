/**
 * The revision log writer (docs/revision-log.md §6): one watch on every key of one member, from the
 * revision after the chain head (or after the newest full backup), events grouped by revision into
 * segments that close every `segmentSeconds` or at `segmentMaxBytes` plain bytes, each committed as a data
 * object, then its manifest.
 *
 * - Memory: one segment fills while the one before it uploads. A segment that must close while that upload
 *   runs waits for it, and the watch is not read meanwhile: grpc-js stops reading the HTTP/2 stream and etcd
 *   holds the events (backpressure, not buffering).
 * - Grouping: without `fragment` (not asked for) etcd never splits a revision across responses.
 * - Gaps: a watch cancelled as compacted, or a head that does not link, is recorded (gap.ts), logged as an
 *   error, and a new chain starts (compact revision + 1, or after the head).
 * - Stop: the signal ends the watch, the open segment is committed. Storage calls do not take the signal
 *   (it would cancel that last upload).
 * - One writer per cluster and storage: the writer holds `<cluster>/log/.dr-lease.json` (storage/lease.ts)
 *   while it runs; a second one is refused with LEASE_HELD naming the holder (a standby daemon retries and
 *   takes over once the holder's lease expires); a writer whose lease is lost (taken over, or not renewed
 *   before it expired) stops as on its signal.
 *
 * Over 400 lines on purpose: the writer is one state machine (the watch, the open segment, the upload in
 * flight, checkpoints, gaps, stop) whose steps share its state; what stands alone already lives beside it
 * (segment-builder, segment-commit, segment-annotations, resume-point, gap, watch-step).
 */
import type { KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { makeHeader } from '../crypto/age-header.js';
import type { AgeRecipient } from '../crypto/age-keys.js';
import type { EtcdClient } from '../etcd/client.js';
import type { WatchResponse } from '../etcd/types.js';
import type { Backend } from '../storage/backend.js';
import { withLease, type LeaseOwner } from '../storage/lease.js';
import { compactionCause, newGapRecord, writeGapRecord, type GapCause, type GapRecord } from './gap.js';
import { noopObserver, type RevlogObserver } from './revlog-metrics.js';
import { logLeaseKey } from './layout.js';
import { findResumePoint, newChainId } from './resume-point.js';
import { SegmentBuilder } from './segment-builder.js';
import { commitSegment, type ChainState } from './segment-commit.js';
import type { LogEvent, RevisionRecord } from './segment-format.js';
import { SegmentAnnotations } from './segment-annotations.js';
import { nextStep } from './watch-step.js';

export interface FollowOptions {
  clusterName: string;
  /** @default 5 */
  segmentSeconds?: number;
  /** plain bytes at which a segment closes early. @default 4 MiB */
  segmentMaxBytes?: number;
  /** HashKV checkpoint period; 0 = none. @default 300 */
  checkpointEverySeconds?: number;
  /** encrypt every segment to these age recipients. @default none */
  recipients?: readonly AgeRecipient[];
  /** sign every segment manifest (Ed25519, as backup manifests are). @default none */
  signKey?: KeyObject | null;
  /** where a new log starts when the cluster has none (default: after the newest full backup) */
  fromRevision?: bigint;
  /** wait before watching again after a member failed. @default 1000 */
  retryDelayMs?: number;
  /** stop: commit the open segment and return */
  signal?: AbortSignal;
  /** take the writer's lease even when another writer holds it (that writer must be gone) */
  breakLease?: boolean;
  /** the writer's lease expires this long after its last renewal. @default 120000 */
  leaseTtlMs?: number;
}

export interface FollowDeps {
  etcd: EtcdClient;
  backend: Backend;
  logger: Logger;
  clock: Clock;
  observer?: RevlogObserver;
  /** who holds the writer's lease. @default an unnamed writer */
  owner?: LeaseOwner;
}

export interface FollowResult {
  chainId: string;
  startedAt: bigint;
  /** the last revision committed by this run; null when it committed nothing */
  committedRevision: bigint | null;
  segments: number;
  gaps: GapRecord[];
}

const RETRIED = new Set(['ETCD_UNREACHABLE', 'ETCD_REQUEST_FAILED']);
const WATCH_ALL = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };

export async function followRevisionLog(deps: FollowDeps, opts: FollowOptions): Promise<FollowResult> {
  return withLease(
    deps.backend,
    logLeaseKey(opts.clusterName),
    {
      owner: deps.owner ?? { host: 'unknown', pid: 0, command: 'revision log writer' },
      clock: deps.clock,
      logger: deps.logger,
      doing: `writing the revision log of ${opts.clusterName} there (one writer at a time)`,
      // a writer restarted on the same host after a crash (systemd's Restart=) continues at once
      takeOverDeadLocalHolder: true,
      ...(opts.breakLease ? { breakLease: true } : {}),
      ...(opts.leaseTtlMs !== undefined ? { ttlMs: opts.leaseTtlMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
    async (signal) => {
      const r = await new Writer(deps, { ...opts, signal }).run();
      // stopped by the lease's loss, not by the caller: that is a failure (the open segment is committed)
      if (signal.aborted && !opts.signal?.aborted) throw toDrError(signal.reason, 'LEASE_HELD');
      return r;
    },
  );
}

class Writer {
  private readonly log: Logger;
  private readonly observer: RevlogObserver;
  private readonly segmentMs: number;
  private readonly maxBytes: number;
  private readonly checkpointMs: number;
  private readonly recipients: readonly AgeRecipient[];
  private chain!: ChainState;
  private chainHasSegments = false;
  private next = 0n;
  private builder: SegmentBuilder | null = null;
  private readonly notes: SegmentAnnotations;
  private nextCheckpointAt = 0;
  private lastLogged: bigint | null = null;
  private uploading: Promise<void> | null = null;
  private failure: Error | null = null;
  /** aborted when an upload failed, so an idle writer notices at once */
  private readonly failed = new AbortController();
  private source = { endpoint: '', memberId: 0n };
  private receivedAny = false;
  private readonly result: FollowResult = {
    chainId: '',
    startedAt: 0n,
    committedRevision: null,
    segments: 0,
    gaps: [],
  };

  constructor(
    private readonly deps: FollowDeps,
    private readonly opts: FollowOptions,
  ) {
    this.log = deps.logger.child({ component: 'revlog', cluster: opts.clusterName });
    this.observer = deps.observer ?? noopObserver;
    this.segmentMs = (opts.segmentSeconds ?? 5) * 1000;
    this.maxBytes = opts.segmentMaxBytes ?? 4 << 20;
    this.checkpointMs = (opts.checkpointEverySeconds ?? 300) * 1000;
    this.recipients = opts.recipients ?? [];
    this.notes = new SegmentAnnotations(deps.etcd, deps.clock, this.log, this.observer);
  }

  private now(): number {
    return this.deps.clock.now().getTime();
  }

  async run(): Promise<FollowResult> {
    const point = await findResumePoint(this.deps.backend, this.opts.clusterName, {
      fromRevision: this.opts.fromRevision,
      now: this.deps.clock.now(),
      signal: this.opts.signal,
    });
    this.chain = {
      chainId: point.chainId,
      chainStartRevision: point.chainStartRevision,
      prevSha256: point.prevSha256,
    };
    this.chainHasSegments = point.head !== null;
    this.next = point.startRevision;
    this.result.startedAt = point.startRevision;
    this.log.info(
      {
        from: point.startRevision.toString(),
        chain: point.chainId,
        reason: point.reason,
        backup: point.backupId,
      },
      'revision log: following',
    );
    if (this.opts.fromRevision !== undefined && point.reason !== 'requested')
      this.log.warn({ reason: point.reason }, 'revision log: the log exists; --from-rev is not used');
    if (point.broken) await this.recordGap('chain-broken', point.startRevision, null, point.broken);
    this.nextCheckpointAt = this.now() + this.checkpointMs;
    try {
      await this.loop();
    } catch (err) {
      // what was received is valid: commit it before reporting the failure
      await this.finish().catch((e: unknown) =>
        this.log.error({ err: (e as Error).message }, 'revision log: open segment lost'),
      );
      throw err;
    }
    await this.finish();
    this.result.chainId = this.chain.chainId;
    return this.result;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.opts.signal?.aborted) {
      const endpoint = await this.pickEndpoint(attempt);
      if (endpoint) {
        try {
          const end = await this.watchOnce(endpoint);
          if (end === 'stopped') return;
          attempt = 0;
          continue;
        } catch (err) {
          const e = toDrError(err);
          if (!RETRIED.has(e.code)) throw e;
          this.log.warn({ endpoint, err: e.message }, 'revision log: watch failed; watching again');
        }
      }
      this.observer.watching?.(null);
      attempt++;
      await sleep(this.opts.retryDelayMs ?? 1000, undefined, { signal: this.opts.signal }).catch(
        () => undefined,
      );
    }
  }

  /** The first member that answers, starting one further along on every failed attempt. */
  private async pickEndpoint(attempt: number): Promise<string | null> {
    const eps = this.deps.etcd.endpoints;
    for (let i = 0; i < eps.length; i++) {
      const endpoint = eps[(attempt + i) % eps.length]!;
      try {
        const st = await this.deps.etcd.status(endpoint);
        this.source = { endpoint, memberId: st.memberId };
        return endpoint;
      } catch (err) {
        this.log.warn({ endpoint, err: (err as Error).message }, 'revision log: member does not answer');
      }
    }
    return null;
  }

  private async watchOnce(endpoint: string): Promise<'stopped' | 'restart'> {
    const watch = this.deps.etcd.watch(endpoint, {
      ...WATCH_ALL,
      startRevision: this.next,
      progressNotify: true,
    });
    const it = watch[Symbol.asyncIterator]();
    let pending = it.next();
    let announced = false;
    const stop = this.opts.signal
      ? AbortSignal.any([this.opts.signal, this.failed.signal])
      : this.failed.signal;
    try {
      for (;;) {
        this.throwIfFailed();
        const step = await nextStep(pending, this.wakeIn(), stop);
        this.throwIfFailed();
        if (step.kind === 'stop') return 'stopped';
        if (step.kind === 'tick') {
          await this.onTick();
          continue;
        }
        if (step.r.done)
          throw new DrError('ETCD_REQUEST_FAILED', `etcd: Watch on ${endpoint} ended by the server`, {
            endpoint,
          });
        const resp = step.r.value;
        if (resp.canceled) {
          if (resp.compactRevision > 0n) {
            await this.onCompacted(resp.compactRevision);
            return 'restart';
          }
          // a watch refused when created (etcd's answer to a user that may not read every key; 3.4 gives
          // no reason) stops the writer; anything else is watched again (RETRIED)
          const refused = resp.created || /permission denied/i.test(resp.cancelReason);
          throw new DrError(
            refused ? 'ETCD_PERMISSION_DENIED' : 'ETCD_REQUEST_FAILED',
            `etcd: Watch on ${endpoint} ${refused ? 'refused' : 'cancelled'}: ${resp.cancelReason || 'no reason given'}${refused ? ' (the user must be allowed to read every key)' : ''}`,
            {
              endpoint,
            },
          );
        }
        await this.onResponse(resp);
        if (!announced) {
          announced = true;
          this.observer.watching?.(endpoint);
        }
        pending = it.next();
      }
    } finally {
      watch.close();
      pending.catch(() => undefined);
      it.return?.(undefined).catch(() => undefined);
    }
  }

  private wakeIn(): number {
    const at = Math.min(
      this.builder && !this.builder.empty ? this.builder.firstTime + this.segmentMs : Infinity,
      this.checkpointMs > 0 ? this.nextCheckpointAt : Infinity,
    );
    return at === Infinity ? Infinity : at - this.now();
  }

  private async onTick(): Promise<void> {
    const now = this.now();
    if (this.builder && !this.builder.empty && now >= this.builder.firstTime + this.segmentMs)
      await this.rotate();
    if (this.checkpointMs > 0 && now >= this.nextCheckpointAt) {
      this.nextCheckpointAt = now + this.checkpointMs;
      this.notes.checkpoint(this.source.endpoint, this.source.memberId, this.lastLogged);
    }
  }

  private async onResponse(resp: WatchResponse): Promise<void> {
    if (resp.headerRevision > 0n) this.observer.watchRevision(resp.headerRevision);
    if (resp.events.length === 0) return;
    const receivedAt = this.now();
    let cur: RevisionRecord | null = null;
    const records: RevisionRecord[] = [];
    for (const e of resp.events) {
      const rev = e.kv.modRevision;
      if (rev < this.next) continue; // already logged (cannot happen with a watch from `next`; kept safe)
      if (!cur || cur.revision !== rev) {
        cur = { revision: rev, receivedAt, events: [] };
        records.push(cur);
      }
      const ev: LogEvent = { type: e.type, ...e.kv };
      cur.events.push(ev);
    }
    // a response catching up on past revisions can hold hundreds of them: the size bound is kept per
    // record, so a slow upload stops the writer inside the response, before it reads the next one
    for (const rec of records) {
      await this.add(rec);
      if (this.builder && this.builder.plainBytes >= this.maxBytes) await this.rotate();
    }
  }

  private async add(rec: RevisionRecord): Promise<void> {
    if (rec.revision !== this.next)
      this.log.error(
        { expected: this.next.toString(), got: rec.revision.toString() },
        'revision log: etcd skipped revisions',
      );
    if (!this.builder)
      this.builder = new SegmentBuilder(this.recipients.length ? await makeHeader(this.recipients) : null);
    this.builder.add(rec);
    this.receivedAny = true;
    this.next = rec.revision + 1n;
    this.lastLogged = rec.revision;
    this.observer.revisionLogged(rec.revision);
    this.notes.seeRecord(rec);
  }

  /** Closes the open segment and starts its commit once the previous one is done (the backpressure point). */
  private async rotate(): Promise<void> {
    const b = this.builder;
    if (!b || b.empty) return;
    this.builder = null;
    const leases = this.notes.takeLeases();
    const sealed = b.seal();
    await this.settle();
    const checkpoints = this.notes.takeCheckpoints();
    this.uploading = (async () => {
      const { manifest, sha256 } = await commitSegment(
        this.deps.backend,
        {
          cluster: this.opts.clusterName,
          chain: { ...this.chain },
          sealed,
          recipients: this.recipients,
          source: this.source,
          checkpoints,
          leases: await leases,
          now: this.deps.clock.now(),
          signKey: this.opts.signKey ?? null,
        },
        this.log,
      );
      this.chain.prevSha256 = sha256;
      this.chainHasSegments = true;
      this.result.segments++;
      this.result.committedRevision = sealed.lastRevision;
      this.observer.segmentCommitted(manifest);
      this.log.info(
        {
          key: manifest.stored.key,
          revisions: sealed.revisionCount,
          events: sealed.eventCount,
          bytes: sealed.stored.size,
        },
        'revision log: segment committed',
      );
    })().catch((err: unknown) => {
      this.failure ??= toDrError(err);
      this.failed.abort();
    });
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** Waits for the upload in flight; throws its failure. */
  private async settle(): Promise<void> {
    if (this.uploading) await this.uploading;
    this.uploading = null;
    if (this.failure) throw this.failure;
  }

  private async finish(): Promise<void> {
    await this.notes.drain();
    await this.rotate();
    await this.settle();
  }

  private async onCompacted(compactRevision: bigint): Promise<void> {
    await this.rotate();
    await this.settle();
    const cause: GapCause = this.receivedAny ? 'watch-compacted' : 'resume-compacted';
    await this.recordGap(
      cause,
      this.next,
      compactRevision,
      compactionCause(cause, this.next, compactRevision),
    );
  }

  /** Records the gap, logs it as an error and starts a new chain (after the compaction, or here). */
  private async recordGap(cause: GapCause, lostFrom: bigint, compactRevision: bigint | null, why: string) {
    const gap = newGapRecord({
      cluster: this.opts.clusterName,
      cause,
      lostFrom,
      compactRevision,
      previousChainId: this.chainHasSegments ? this.chain.chainId : null,
      newChainId: newChainId(this.deps.clock.now()),
      at: this.deps.clock.now(),
      why,
    });
    const key = await writeGapRecord(this.deps.backend, gap);
    this.log.error(
      { key, cause, lostFrom: gap.lostFrom, resumedFrom: gap.resumedFrom },
      `revision log: GAP: ${gap.message}`,
    );
    this.observer.gapRecorded(gap);
    this.result.gaps.push(gap);
    const resumedFrom = BigInt(gap.resumedFrom!);
    this.chain = { chainId: gap.newChainId!, chainStartRevision: resumedFrom, prevSha256: null };
    this.chainHasSegments = false;
    this.next = resumedFrom;
    this.receivedAny = false;
  }
}
