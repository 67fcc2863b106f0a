/**
 * A policy's Object Lock, made concrete: the lock period its retention rules need (lock-period.ts) and
 * its targets wrapped so that every backup object is put locked (object-lock.ts). Used by the daemon's
 * job spec and by `dr backup --config FILE --policy NAME`.
 */
import type { Clock } from '../core/clock.js';
import type { PolicyConfig } from '../config/load.js';
import { lockPeriod, retainUntil, type LockPeriod } from '../retention/lock-period.js';
import type { StorageTarget } from '../storage/backend.js';
import { withObjectLock, type ObjectLockPolicy } from '../storage/object-lock.js';
import { retentionRules } from './prune.js';

/** The lock period of the policy's backups, or null when it asks for no lock. */
export function policyLockPeriod(p: PolicyConfig): LockPeriod | null {
  if (!p.objectLock) return null;
  return lockPeriod(retentionRules(p.retention), p.expectedIntervalSeconds * 1000, p.objectLock.minRetain);
}

export function policyLock(p: PolicyConfig, clock: Clock): ObjectLockPolicy | null {
  const period = policyLockPeriod(p);
  if (!period || !p.objectLock) return null;
  return {
    mode: p.objectLock.mode,
    retainUntil: (at) => retainUntil(at, period),
    verifyBucket: p.objectLock.verifyBucket,
    now: () => clock.now(),
  };
}

/** The targets as a backup of the policy writes to them: locked, when the policy asks. */
export function lockedTargets(targets: StorageTarget[], p: PolicyConfig, clock: Clock): StorageTarget[] {
  const lock = policyLock(p, clock);
  if (!lock) return targets;
  return targets.map((t) => ({ name: t.name, backend: withObjectLock(t.backend, lock) }));
}
