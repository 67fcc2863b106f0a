/**
 * What a segment's manifest says beside its records: the granted TTL of each lease first seen in its
 * events (LeaseTimeToLive, asked as soon as the lease is seen), and the HashKV checkpoints taken while it
 * was open. The questions run beside the watch, never holding it up; a segment waits for its lease
 * answers when it is committed. A checkpoint lands in the next segment committed after it was answered,
 * always at a revision already logged (<= that segment's last revision).
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { EtcdClient } from '../etcd/client.js';
import type { RevlogObserver } from './revlog-metrics.js';
import type { RevisionRecord } from './segment-format.js';
import type { Checkpoint, LeaseSeen } from './segment-manifest.js';

/** Leases remembered as seen (a lease seen again after the set was cleared is only asked again). */
const MAX_REMEMBERED_LEASES = 100_000;

export class SegmentAnnotations {
  private leases: Promise<LeaseSeen>[] = [];
  private readonly seen = new Set<bigint>();
  private checkpoints: Checkpoint[] = [];
  private inFlight: Promise<void> | null = null;
  private lastCheckpointRev: bigint | null = null;

  constructor(
    private readonly etcd: EtcdClient,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly observer: RevlogObserver,
  ) {}

  /** Asks for the TTL of every lease this record shows for the first time. */
  seeRecord(rec: RevisionRecord): void {
    for (const e of rec.events) {
      if (e.type !== 'PUT' || e.lease === 0n || this.seen.has(e.lease)) continue;
      if (this.seen.size >= MAX_REMEMBERED_LEASES) this.seen.clear();
      this.seen.add(e.lease);
      const base = { id: e.lease.toString(16), firstSeenRevision: rec.revision.toString() };
      this.leases.push(
        this.etcd.leaseTimeToLive(e.lease).then(
          (t) => ({ ...base, grantedTtl: t.ttl < 0n ? null : Number(t.grantedTtl) }),
          (err: unknown) => {
            this.log.warn(
              { lease: base.id, err: (err as Error).message },
              'revision log: lease TTL not known',
            );
            return { ...base, grantedTtl: null };
          },
        ),
      );
    }
  }

  /** The lease answers of the segment being closed; the next segment starts with none. */
  takeLeases(): Promise<LeaseSeen[]> {
    const list = this.leases;
    this.leases = [];
    return Promise.all(list);
  }

  takeCheckpoints(): Checkpoint[] {
    return this.checkpoints.splice(0);
  }

  /** HashKV at `revision` (already logged) on the member being watched, unless one is running or done there. */
  checkpoint(endpoint: string, memberId: bigint, revision: bigint | null): void {
    if (revision === null || revision === this.lastCheckpointRev || this.inFlight) return;
    this.lastCheckpointRev = revision;
    this.inFlight = this.etcd
      .hashKV(endpoint, revision)
      .then(
        (h) => {
          this.checkpoints.push({
            revision: revision.toString(),
            hashKV: h.hash,
            compactRevision: h.compactRevision.toString(),
            memberId: (h.memberId || memberId).toString(16),
            endpoint,
            at: this.clock.now().toISOString(),
          });
          this.observer.checkpointTaken(revision);
        },
        (err: unknown) =>
          this.log.warn(
            { endpoint, revision: revision.toString(), err: (err as Error).message },
            'revision log: HashKV checkpoint failed',
          ),
      )
      .finally(() => {
        this.inFlight = null;
      });
  }

  /** Waits for a checkpoint in flight (before the last segment is committed). */
  async drain(): Promise<void> {
    if (this.inFlight) await this.inFlight;
  }
}
