/**
 * The advisory lease (src/storage/lease.ts) on real targets: a file:// directory (conditional create by
 * link(2)) and s3rver (no conditional writes: write, then read back). What must hold: a live lease of
 * another holder refuses with LEASE_HELD naming it and the override; of two processes taking it at once
 * exactly one gets it; a stale lease is taken over and --break-lease takes a live one; a holder whose
 * lease was taken over learns it at its next renewal (its signal fires); release removes only its own.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Backend } from '../../src/storage/backend.js';
import { acquireLease, leaseKey, readLease, type LeaseOptions } from '../../src/storage/lease.js';
import { MemoryBackend } from '../../src/storage/memory/memory-backend.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { withRetry } from '../../src/storage/retry.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { tempDir } from '../helpers/tmp.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let s3: S3rverHandle;
let file: Backend;
let bucket: Backend;

beforeAll(async () => {
  [tmp, s3] = await Promise.all([tempDir('dr-lease-'), startS3rver('dr-lease')]);
  file = await openBackend(`file://${tmp.dir}`);
  bucket = await openBackend(s3.url('leases/'));
});
afterAll(async () => {
  await file?.close();
  await bucket?.close();
  await s3?.stop();
  await tmp?.cleanup();
});

function opts(command: string, extra: Partial<LeaseOptions> = {}): LeaseOptions {
  return {
    owner: { host: 'host-a', pid: 4242, command },
    clock: { now: () => new Date() },
    logger: silentLogger,
    ...extra,
  };
}

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrError);
  return err as DrError;
}

describe('lease on file://', () => {
  it('refuses a second holder, naming the first and the override; release frees it', async () => {
    const key = leaseKey('one');
    const first = await acquireLease(file, key, opts('dr prune'));
    const e = await failure(acquireLease(file, key, opts('dr gc')));
    expect(e.code).toBe('LEASE_HELD');
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/held by dr prune \(pid 4242 on host-a\), lease until .*--break-lease/);
    const stored = JSON.parse(await readFile(path.join(tmp.dir, 'one', '.dr-lease.json'), 'utf8')) as {
      token: string;
    };
    expect(stored.token).toBe(first.record.token);
    await first.release();
    expect(await readLease(file, key)).toBeNull();
    const again = await acquireLease(file, key, opts('dr gc'));
    await again.release();
  });

  it('of two taking it at the same moment, exactly one gets it', async () => {
    const key = leaseKey('race');
    const results = await Promise.allSettled([
      acquireLease(file, key, opts('a')),
      acquireLease(file, key, opts('b')),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won.length).toBe(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'LEASE_HELD' });
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLease>>>).value.release();
  });

  it('takes over a stale lease, and breaks a live one only when asked', async () => {
    const key = leaseKey('stale');
    const dead = await acquireLease(file, key, opts('dr prune', { ttlMs: 60_000 }));
    // the holder dies: no renewal, no release
    dead.signal.throwIfAborted();
    const later = { now: () => new Date(Date.now() + 61_000) };
    const next = await acquireLease(file, key, opts('dr gc', { clock: later }));
    expect((await readLease(file, key))?.owner.command).toBe('dr gc');
    const broken = await acquireLease(file, key, opts('dr prune --break-lease', { breakLease: true }));
    expect((await readLease(file, key))?.token).toBe(broken.record.token);
    // the one whose lease was broken does not remove the new holder's on release
    await next.release();
    expect((await readLease(file, key))?.token).toBe(broken.record.token);
    await broken.release();
    await dead.release();
  });

  it('a holder whose lease was taken over learns it at the next renewal', async () => {
    const key = leaseKey('lost');
    const lease = await acquireLease(file, key, opts('dr prune', { renewEveryMs: 25 }));
    const p = path.join(tmp.dir, 'lost', '.dr-lease.json');
    const other = {
      ...JSON.parse(await readFile(p, 'utf8')),
      token: 'someone-else',
      owner: { host: 'b', pid: 1, command: 'dr gc' },
    };
    // the other holder keeps writing its lease, as a live holder renews it (a single write could land
    // between a renewal's read-back and its put, and be overwritten: the window lease.ts documents)
    for (let i = 0; i < 200 && !lease.signal.aborted; i++) {
      // written as the file backend writes (temp file, rename): a plain writeFile truncates first, and a
      // renewal reading the empty file in between rightly reports an unreadable lease record instead
      await writeFile(`${p}.other`, JSON.stringify(other));
      await rename(`${p}.other`, p);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(lease.signal.reason).toMatchObject({ code: 'LEASE_HELD' });
    expect((lease.signal.reason as Error).message).toMatch(/taken over by dr gc \(pid 1 on b\)/);
    await lease.release();
    expect((await readLease(file, key))?.token).toBe('someone-else');
  });

  it('renews while held: the expiry moves on', async () => {
    const key = leaseKey('renew');
    const lease = await acquireLease(file, key, opts('dr prune', { renewEveryMs: 20, ttlMs: 60_000 }));
    const before = lease.record.expiresAt;
    await new Promise((r) => setTimeout(r, 120));
    const now = await readLease(file, key);
    expect(now?.token).toBe(lease.record.token);
    expect(Date.parse(now!.expiresAt)).toBeGreaterThan(Date.parse(before));
    await lease.release();
  });
});

describe('lease and retries', () => {
  it('a create whose answer was lost, retried and refused as existing, is still ours', async () => {
    class LostAnswer extends MemoryBackend {
      lost = 0;
      override async putIfAbsent(key: string, data: Buffer): Promise<boolean> {
        const created = await super.putIfAbsent(key, data);
        if (created && this.lost++ === 0)
          throw new DrError('STORAGE_UNREACHABLE', 'answer lost', { transient: true });
        return created;
      }
    }
    const inner = new LostAnswer();
    const b = withRetry(inner, { sleep: async () => undefined });
    const lease = await acquireLease(b, leaseKey('retried'), opts('dr prune'));
    expect(inner.lost).toBe(1);
    expect((await readLease(b, leaseKey('retried')))?.token).toBe(lease.record.token);
    await lease.release();
    expect(await readLease(b, leaseKey('retried'))).toBeNull();
  });
});

describe('lease on s3 without conditional writes (write, then read back)', () => {
  it('has no conditional create, and still lets exactly one of two concurrent takers in', async () => {
    expect(bucket.putIfAbsent === undefined).toBe(true);
    const key = leaseKey('race');
    const results = await Promise.allSettled([
      acquireLease(bucket, key, opts('a', { settleMs: 300 })),
      acquireLease(bucket, key, opts('b', { settleMs: 300 })),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won.length).toBe(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toMatchObject({ code: 'LEASE_HELD' });
    const lease = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireLease>>>).value;
    expect((await readLease(bucket, key))?.token).toBe(lease.record.token);
    await lease.release();
    expect(await readLease(bucket, key)).toBeNull();
  });
});
