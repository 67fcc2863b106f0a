/**
 * An advisory lease: a small object (`<cluster>/.dr-lease.json`) that one dr process holds while it
 * removes backups of that cluster (prune, gc, the daemon's retention and clean-up), so that two of them
 * never decide and delete on the same prefix at once (each from its own catalog, they could remove
 * between them what neither would alone).
 *
 * The record names its holder (host, pid, command), a random token and an expiry. The holder renews it
 * every `renewEveryMs` and removes it at the end; a holder that died leaves a lease that goes stale at
 * its expiry and is then taken over. Every renewal first reads the lease back: a holder that finds
 * someone else's token has lost it, and its `signal` fires so the work stops.
 *
 * Taking it:
 *  1. read the lease: a live one of another holder refuses with LEASE_HELD (naming it, its expiry, and
 *     `--break-lease`); a stale one (or any, when breaking) is removed;
 *  2. create it: with `putIfAbsent` (a conditional write) where the backend has one, so of two
 *     processes creating at once exactly one succeeds; otherwise a plain put;
 *  3. read it back after `settleMs` and check the token (the only guard without conditional writes).
 * Race window without conditional writes: two processes that both find no lease and both put within
 * `settleMs` of each other's read-back may both go on; with them, two that both remove the same stale
 * lease may, the second removing the first's fresh one, until the first's next renewal sees the loss.
 * A renewal reads, then rewrites: a take-over that lands between the two is overwritten once, and the
 * new holder's own renewal (or read-back) then finds the token changed and one of the two stops.
 * Expiry is judged on the reader's clock against the writer's: keep hosts' clocks in sync (NTP).
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import { DrError, isDrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Backend } from './backend.js';

export const LEASE_FILE = '.dr-lease.json';

/** The lease of one cluster's prefix. */
export function leaseKey(cluster: string): string {
  return `${cluster}/${LEASE_FILE}`;
}

export function isLeaseKey(key: string): boolean {
  return key === LEASE_FILE || key.endsWith(`/${LEASE_FILE}`);
}

export interface LeaseOwner {
  host: string;
  pid: number;
  /** the holder's PID namespace (Linux `/proc/self/ns/pid`), recorded by the lease itself */
  pidNamespace?: string;
  /** what holds it: "dr prune", "dr gc", "dr daemon" */
  command: string;
}

export interface LeaseRecord {
  version: 1;
  token: string;
  owner: LeaseOwner;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
}

export interface LeaseOptions {
  owner: LeaseOwner;
  clock: Clock;
  logger: Logger;
  /** A lease not renewed for this long is stale. @default 120000 */
  ttlMs?: number;
  /** @default ttlMs / 4 */
  renewEveryMs?: number;
  /** Take the lease even when another holder's is live (`--break-lease`). @default false */
  breakLease?: boolean;
  /** What the holder does there, for LEASE_HELD. @default 'pruning or collecting garbage there' */
  doing?: string;
  /**
   * Take over at once a lease held by a process of this host (same `owner.host`) that no longer exists,
   * rather than waiting for its expiry: a daemon restarted after a crash continues at once. Only where
   * two holders at once cost nothing irreparable (the revision log: an overlap the reader reports); the
   * holder's PID namespace must be this process's (recorded in the lease). @default false
   */
  takeOverDeadLocalHolder?: boolean;
  /** Wait before the read-back check. @default 1000 without conditional writes, 0 with */
  settleMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_LEASE_TTL_MS = 120_000;
const DOING = 'pruning or collecting garbage there';

export interface Lease {
  key: string;
  record: LeaseRecord;
  /** Fires when the lease is lost (taken over, or it could not be renewed before it expired). */
  signal: AbortSignal;
  release(): Promise<void>;
}

/** This process's PID namespace, where Linux tells it; null elsewhere (no take-over then). */
const PID_NAMESPACE: string | null = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
})();

/**
 * The holder ran on this host and in this PID namespace (containers sharing a hostname do not share
 * pids), is not this process, and its pid no longer exists.
 */
function deadLocalHolder(holder: LeaseOwner, me: LeaseOwner): boolean {
  if (holder.host !== me.host || holder.pid === process.pid || holder.pid <= 0) return false;
  if (!PID_NAMESPACE || holder.pidNamespace !== PID_NAMESPACE) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    // EPERM: it exists, under another user
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export async function readLease(
  backend: Backend,
  key: string,
  signal?: AbortSignal,
): Promise<LeaseRecord | null> {
  let text: string;
  try {
    const stream = await backend.get(key, signal ? { signal } : {});
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
    text = Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (isDrError(err, 'STORAGE_NOT_FOUND')) return null;
    throw err;
  }
  try {
    const r = JSON.parse(text) as Partial<LeaseRecord>;
    if (typeof r.token === 'string' && typeof r.expiresAt === 'string' && r.owner) return r as LeaseRecord;
  } catch {
    // fall through: a lease dr cannot read is still someone's lease
  }
  return {
    version: 1,
    token: '(unreadable)',
    owner: { host: 'unknown', pid: 0, command: 'unknown (unreadable lease record)' },
    acquiredAt: '',
    renewedAt: '',
    expiresAt: new Date(8.64e15).toISOString(),
  };
}

export function describeHolder(r: LeaseRecord): string {
  return `${r.owner.command} (pid ${r.owner.pid} on ${r.owner.host}), lease until ${r.expiresAt}`;
}

function held(backend: Backend, key: string, r: LeaseRecord, extra = '', doing = DOING): DrError {
  return new DrError(
    'LEASE_HELD',
    `lease ${key} on ${backend.location} is held by ${describeHolder(r)}${extra}: another dr process is ${doing}; wait for it, or if that process is gone, wait for the lease to expire or run again with --break-lease`,
    { transient: false, key, holder: r.owner, expiresAt: r.expiresAt },
  );
}

function body(r: LeaseRecord): Buffer {
  return Buffer.from(`${JSON.stringify(r, null, 2)}\n`);
}

export async function acquireLease(backend: Backend, key: string, opts: LeaseOptions): Promise<Lease> {
  const ttl = opts.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const conditional = backend.putIfAbsent !== undefined;
  const settleMs = opts.settleMs ?? (conditional ? 0 : 1000);
  const signal = opts.signal;
  const token = randomBytes(16).toString('hex');
  const fresh = (): LeaseRecord => {
    const now = opts.clock.now();
    return {
      version: 1,
      token,
      owner: { ...opts.owner, ...(PID_NAMESPACE ? { pidNamespace: PID_NAMESPACE } : {}) },
      acquiredAt: now.toISOString(),
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttl).toISOString(),
    };
  };

  let record: LeaseRecord | null = null;
  for (let attempt = 1; attempt <= 3 && !record; attempt++) {
    signal?.throwIfAborted();
    const existing = await readLease(backend, key, signal);
    // Our own record: a create whose answer was lost and that a retry then found taken (412).
    if (existing?.token === token) {
      record = existing;
      break;
    }
    if (existing) {
      const stale = Date.parse(existing.expiresAt) <= opts.clock.now().getTime();
      const dead =
        !stale && opts.takeOverDeadLocalHolder === true && deadLocalHolder(existing.owner, opts.owner);
      if (!stale && !dead && !opts.breakLease) throw held(backend, key, existing, '', opts.doing);
      opts.logger.warn(
        { lease: key, storage: backend.location, holder: existing.owner, expiresAt: existing.expiresAt },
        stale
          ? 'lease: taking over a stale lease'
          : dead
            ? 'lease: taking over the lease of a process of this host that no longer exists'
            : 'lease: breaking a live lease (--break-lease)',
      );
      await backend.remove(key, signal ? { signal } : {});
    }
    const candidate = fresh();
    if (backend.putIfAbsent) {
      if (!(await backend.putIfAbsent(key, body(candidate), signal ? { signal } : {}))) continue;
    } else {
      await backend.put(key, Readable.from([body(candidate)]), signal ? { signal } : {});
    }
    if (settleMs > 0) await sleep(settleMs, undefined, signal ? { signal } : {});
    const back = await readLease(backend, key, signal);
    if (!back || back.token !== token) {
      if (back) throw held(backend, key, back, ' (it was taken at the same moment)', opts.doing);
      continue;
    }
    record = candidate;
  }
  if (!record) {
    const now = await readLease(backend, key, signal);
    if (now) throw held(backend, key, now, '', opts.doing);
    throw new DrError(
      'STORAGE_FAILED',
      `lease ${key} on ${backend.location}: could not be taken after 3 tries`,
    );
  }
  opts.logger.debug({ lease: key, storage: backend.location, expiresAt: record.expiresAt }, 'lease: taken');
  return holdLease(backend, key, record, opts, ttl);
}

function holdLease(
  backend: Backend,
  key: string,
  first: LeaseRecord,
  opts: LeaseOptions,
  ttl: number,
): Lease {
  const lost = new AbortController();
  let record = first;
  let stopped = false;
  let renewing: Promise<void> | null = null;

  const renew = async (): Promise<void> => {
    try {
      const back = await readLease(backend, key);
      if (!back || back.token !== record.token) {
        const why = back ? `taken over by ${describeHolder(back)}` : 'removed by someone else';
        lose(new DrError('LEASE_HELD', `lease ${key} on ${backend.location} was ${why}; stopped`, { key }));
        return;
      }
      const now = opts.clock.now();
      const next = {
        ...record,
        renewedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttl).toISOString(),
      };
      await backend.put(key, Readable.from([body(next)]));
      record = next;
    } catch (err) {
      // A renewal that failed is tried again; the lease is lost only once it has expired unrenewed.
      if (Date.parse(record.expiresAt) <= opts.clock.now().getTime()) {
        lose(
          new DrError(
            'LEASE_HELD',
            `lease ${key} on ${backend.location} expired: it could not be renewed (${toDrError(err).message}); stopped`,
            { key },
          ),
        );
      } else {
        opts.logger.warn({ lease: key, err: toDrError(err).message }, 'lease: renewal failed; trying again');
      }
    }
  };
  const lose = (err: DrError): void => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    opts.logger.error({ lease: key, storage: backend.location }, err.message);
    lost.abort(err);
  };
  const timer = setInterval(
    () => {
      if (stopped || renewing) return;
      renewing = renew().finally(() => {
        renewing = null;
      });
    },
    opts.renewEveryMs ?? Math.max(1, Math.floor(ttl / 4)),
  );
  timer.unref();

  return {
    key,
    get record() {
      return record;
    },
    signal: lost.signal,
    async release() {
      if (lost.signal.aborted) return;
      stopped = true;
      clearInterval(timer);
      await renewing;
      try {
        const back = await readLease(backend, key);
        if (back?.token === record.token) await backend.remove(key);
        opts.logger.debug({ lease: key, storage: backend.location }, 'lease: released');
      } catch (err) {
        opts.logger.warn(
          { lease: key, storage: backend.location, err: toDrError(err).message },
          'lease: not released; it goes stale at its expiry',
        );
      }
    },
  };
}

/**
 * Runs fn while holding the lease of key; fn's signal fires when the caller's does or the lease is
 * lost. The lease is released however fn ends.
 */
export async function withLease<T>(
  backend: Backend,
  key: string,
  opts: LeaseOptions,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const lease = await acquireLease(backend, key, opts);
  const signal = opts.signal ? AbortSignal.any([opts.signal, lease.signal]) : lease.signal;
  try {
    return await fn(signal);
  } catch (err) {
    // The lease's loss explains the abort better than the ABORTED it caused.
    if (lease.signal.aborted && isDrError(lease.signal.reason)) throw lease.signal.reason;
    throw err;
  } finally {
    await lease.release();
  }
}
