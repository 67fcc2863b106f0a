/**
 * Applies logged revisions to a throwaway member, one transaction per original revision, so that its
 * revisions are the original's (docs/revision-log.md §9):
 *
 * - each record's events become one unconditional Txn (a PUT a put with its value and lease, a DELETE the
 *   delete of that one key); the revision etcd answers must be the record's, else REPLAY_DIVERGED;
 * - a lease seen in a PUT that the member does not hold is granted first, with its ID and the TTL the
 *   log recorded; every lease is kept alive while the replay runs, so none expires into a revision of
 *   its own (one would show as the next record's revision mismatch, never silently);
 * - at a checkpoint revision the member is compacted at the checkpoint's compact revision (when it is
 *   further than the member's) and its HashKV compared with the checkpoint's: a difference is
 *   REPLAY_DIVERGED.
 *
 * The transactions go through txn-pipeline.ts: a few in flight, each guarded on its predecessor, so
 * that none can apply out of order; at a checkpoint every one sent is answered before HashKV is asked.
 */
import { DrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EtcdClient } from '../etcd/client.js';
import type { TxnOp } from '../etcd/types.js';
import type { RevisionRecord } from '../revlog/segment-format.js';
import type { Checkpoint } from '../revlog/segment-manifest.js';
import { TxnPipeline, type TxnCall } from './txn-pipeline.js';

/** TTL for a lease whose granted TTL the log could not record (it was gone before the writer asked). */
export const UNKNOWN_LEASE_TTL_SECONDS = 60;
const KEEPALIVE_EVERY_MS = 500;
/**
 * Transactions in flight: 2 measured fastest (a guarded one whose predecessor etcd took later is sent
 * again; with 3 or more nearly every other one was; docs/benchmarks.md, "Point-in-time replay, session 12").
 */
export const REPLAY_WINDOW = 2;
const KEEPALIVE_BATCH = 1000;

export interface ApplyOptions {
  client: EtcdClient;
  endpoint: string;
  /** how one transaction is sent (default: the client's; the replay passes txn-session.ts's) */
  txn?: TxnCall;
  /** transactions in flight at most (default REPLAY_WINDOW; 1: one at a time) */
  window?: number;
  /** the member's revision before the first record (the base backup's) */
  fromRevision: bigint;
  /** the last revision to apply */
  toRevision: bigint;
  checkpoints: readonly Checkpoint[];
  leaseTtls: ReadonlyMap<bigint, number | null>;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (applied: bigint) => void;
  /** started by the caller, who stops it once the member is snapshotted (default: one of the replay's own) */
  leases?: LeaseKeeper;
}

export interface CheckpointResult {
  revision: string;
  hashKV: number;
  compactRevision: string;
  /** what the replayed member answered */
  found: number;
  ok: boolean;
}

export interface ApplyResult {
  applied: number;
  events: number;
  leasesGranted: number;
  /** leases granted with UNKNOWN_LEASE_TTL_SECONDS: the log had no TTL for them (hex IDs) */
  leasesWithoutTtl: string[];
  checkpoints: CheckpointResult[];
  /** the last revision a checkpoint proved (null: none) */
  provedThrough: string | null;
  /** transactions sent again because etcd took them before their predecessor (their guard held nothing back) */
  resent: number;
  durationMs: number;
}

function diverged(message: string, details: Record<string, unknown> = {}): DrError {
  return new DrError('REPLAY_DIVERGED', `replay: ${message}`, details);
}

/** a key the record put (the next revision's guard), or null when it only deleted */
function putKeyOf(rec: RevisionRecord): Uint8Array | null {
  for (const e of rec.events) if (e.type === 'PUT') return e.key;
  return null;
}

function logBroken(message: string): DrError {
  return new DrError('REVLOG_DISCONTINUOUS', `replay: ${message}`);
}

/**
 * Keeps every lease of the replay member alive, from before the first transaction until the member has
 * been snapshotted (the caller stops it), so that no lease expires into a revision of its own.
 */
export class LeaseKeeper {
  private readonly leases = new Set<bigint>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failure: unknown = null;

  constructor(
    private readonly client: EtcdClient,
    private readonly endpoint: string,
  ) {}

  /** Learns the member's leases, keeps them alive once, then every KEEPALIVE_EVERY_MS. */
  async start(): Promise<void> {
    for (const id of await this.client.leaseLeases(this.endpoint)) this.leases.add(id);
    await this.round();
    this.timer = setInterval(() => {
      if (this.running || this.leases.size === 0) return;
      this.running = this.round()
        .catch((err: unknown) => {
          this.failure ??= err;
        })
        .finally(() => (this.running = null));
    }, KEEPALIVE_EVERY_MS);
  }

  has(id: bigint): boolean {
    return this.leases.has(id);
  }

  add(id: bigint): void {
    this.leases.add(id);
  }

  /** A keep-alive that failed: an etcd error (ETCD_REQUEST_FAILED), thrown by the replay. */
  check(): void {
    if (this.failure)
      throw new DrError(
        'ETCD_REQUEST_FAILED',
        `replay: keeping the replay member's leases alive failed: ${(this.failure as Error).message}`,
      );
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async round(): Promise<void> {
    const ids = [...this.leases];
    for (let i = 0; i < ids.length; i += KEEPALIVE_BATCH)
      await this.client.leaseKeepAlive(this.endpoint, ids.slice(i, i + KEEPALIVE_BATCH));
  }
}

export async function applyRevisions(
  records: AsyncIterable<RevisionRecord>,
  o: ApplyOptions,
): Promise<ApplyResult> {
  const t0 = performance.now();
  const { client, endpoint } = o;
  const txn: TxnCall = o.txn ?? ((ops, guard) => client.txn(endpoint, ops, guard));
  const result: ApplyResult = {
    applied: 0,
    events: 0,
    leasesGranted: 0,
    leasesWithoutTtl: [],
    checkpoints: [],
    provedThrough: null,
    resent: 0,
    durationMs: 0,
  };
  // the caller's keeper keeps the leases alive past the replay (until its snapshot); else our own
  const own = o.leases ? null : new LeaseKeeper(client, endpoint);
  const leases = o.leases ?? own!;
  const checkpoints = new Map(o.checkpoints.map((c) => [BigInt(c.revision), c]));
  let compacted = -1n;
  let expected = o.fromRevision + 1n;
  const pipeline = new TxnPipeline(txn, o.window ?? REPLAY_WINDOW, o.fromRevision, (r) => o.onProgress?.(r));
  // the base is applied: the first revision waits for nothing
  let prevPutKey: Uint8Array | null = null;
  try {
    await own?.start();
    for await (const rec of records) {
      o.signal?.throwIfAborted();
      if (rec.revision < expected) continue; // an overlapping segment's records already applied
      // read the last segment to its end all the same: its checks (stored and plain sha256, counts)
      // run only there, and a segment not read to its end would be trusted unchecked
      if (rec.revision > o.toRevision) continue;
      if (rec.revision !== expected)
        throw logBroken(`the log has revision ${rec.revision} where ${expected} was expected`);
      leases.check();
      const ops: TxnOp[] = [];
      for (const e of rec.events) {
        if (e.type === 'DELETE') {
          ops.push({ type: 'delete', key: e.key });
          continue;
        }
        if (e.lease !== 0n && !leases.has(e.lease)) {
          const ttl = o.leaseTtls.get(e.lease);
          if (ttl === undefined || ttl === null) result.leasesWithoutTtl.push(e.lease.toString(16));
          await client.leaseGrant(ttl ?? UNKNOWN_LEASE_TTL_SECONDS, e.lease);
          leases.add(e.lease);
          result.leasesGranted++;
        }
        ops.push({ type: 'put', key: e.key, value: e.value, lease: e.lease });
      }
      await pipeline.push(rec.revision, ops, prevPutKey);
      prevPutKey = putKeyOf(rec);
      result.applied++;
      result.events += rec.events.length;
      expected++;
      const cp = checkpoints.get(rec.revision);
      if (cp) {
        await pipeline.drain();
        const c = await proveCheckpoint(client, endpoint, cp, compacted);
        compacted = c.compacted;
        result.checkpoints.push(c.result);
        if (!c.result.ok)
          throw diverged(
            `HashKV at checkpoint revision ${cp.revision} is ${c.result.found} on the replay member, the log's checkpoint says ${cp.hashKV} (compact revision ${cp.compactRevision})`,
            { checkpoint: c.result },
          );
        result.provedThrough = cp.revision;
        o.logger.info({ revision: cp.revision, hashKV: cp.hashKV }, 'replay: checkpoint proved');
      }
    }
    if (expected <= o.toRevision)
      throw logBroken(`the log ended at revision ${expected - 1n}, before revision ${o.toRevision}`);
    await pipeline.drain();
    leases.check();
  } finally {
    result.resent = pipeline.resent;
    await own?.stop();
  }
  result.durationMs = performance.now() - t0;
  return result;
}

async function proveCheckpoint(
  client: EtcdClient,
  endpoint: string,
  cp: Checkpoint,
  compacted: bigint,
): Promise<{ result: CheckpointResult; compacted: bigint }> {
  const compactAt = BigInt(cp.compactRevision);
  if (compactAt > 0n && compactAt > compacted) {
    try {
      await client.compact(compactAt, { physical: true });
    } catch (err) {
      // the base backup was compacted further already: HashKV then tells whether that matters
      if (!/compacted/i.test((err as Error).message)) throw err;
    }
    compacted = compactAt;
  }
  const h = await client.hashKV(endpoint, BigInt(cp.revision));
  return {
    compacted,
    result: {
      revision: cp.revision,
      hashKV: cp.hashKV,
      compactRevision: cp.compactRevision,
      found: h.hash,
      ok: h.hash === cp.hashKV,
    },
  };
}
