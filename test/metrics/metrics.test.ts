import { describe, expect, it } from 'vitest';
import { createMetrics, forgetPolicyMetrics, seedPolicyMetrics } from '../../src/metrics/metrics.js';
import { sample } from './prom-text.js';

describe('metrics', () => {
  it('seeds every series of a policy so that the alert metrics exist from start-up', async () => {
    let now = new Date('2026-03-01T12:00:00Z');
    const m = createMetrics({ defaultMetrics: false, now: () => now });
    seedPolicyMetrics(m, {
      cluster: 'prod',
      policy: 'hourly',
      storage: ['s3', 'disk'],
      intervalSeconds: 3600,
      staleAfterSeconds: 7200,
      lastSuccess: new Date('2026-03-01T11:00:00Z'),
      lastAttempt: null,
      lastVerified: null,
      retained: { s3: 4 },
    });
    seedPolicyMetrics(m, {
      cluster: 'prod',
      policy: 'never-ran',
      storage: ['s3'],
      intervalSeconds: 60,
      staleAfterSeconds: 120,
      lastSuccess: null,
      lastAttempt: null,
      lastVerified: null,
    });
    const text = await m.registry.metrics();
    const l = { cluster: 'prod', policy: 'hourly' };
    expect(sample(text, 'etcd_backup_last_success_timestamp_seconds', l)).toBe(
      Date.parse('2026-03-01T11:00:00Z') / 1000,
    );
    expect(sample(text, 'etcd_backup_last_success_age_seconds', l)).toBe(3600);
    expect(sample(text, 'etcd_backup_last_attempt_timestamp_seconds', l)).toBe(0);
    expect(sample(text, 'etcd_backup_expected_interval_seconds', l)).toBe(3600);
    expect(sample(text, 'etcd_backup_stale_after_seconds', l)).toBe(7200);
    expect(sample(text, 'etcd_backup_attempts_total', { ...l, result: 'failure' })).toBe(0);
    expect(sample(text, 'etcd_backup_retained_backups', { ...l, storage: 's3' })).toBe(4);
    expect(sample(text, 'etcd_backup_retained_backups', { ...l, storage: 'disk' })).toBe(0);
    expect(
      sample(text, 'etcd_backup_last_success_timestamp_seconds', { cluster: 'prod', policy: 'never-ran' }),
    ).toBe(0);
    expect(
      sample(text, 'etcd_backup_last_success_age_seconds', { cluster: 'prod', policy: 'never-ran' }),
    ).toBe(Infinity);
    expect(sample(text, 'etcd_backup_audit_findings', { severity: 'critical' })).toBe(0);

    now = new Date('2026-03-01T12:30:00Z');
    expect(sample(await m.registry.metrics(), 'etcd_backup_last_success_age_seconds', l)).toBe(5400);

    forgetPolicyMetrics(m, 'prod', 'hourly', ['s3', 'disk']);
    const after = await m.registry.metrics();
    expect(sample(after, 'etcd_backup_last_success_timestamp_seconds', l)).toBeUndefined();
    expect(sample(after, 'etcd_backup_retained_backups', { ...l, storage: 's3' })).toBeUndefined();
    expect(
      sample(after, 'etcd_backup_last_success_timestamp_seconds', { cluster: 'prod', policy: 'never-ran' }),
    ).toBe(0);
  });

  it('keeps two registries apart and includes process metrics', async () => {
    const a = createMetrics();
    const b = createMetrics({ defaultMetrics: false });
    a.attempts.inc({ cluster: 'c', policy: 'p', result: 'success' });
    expect(
      sample(await a.registry.metrics(), 'etcd_backup_attempts_total', {
        cluster: 'c',
        policy: 'p',
        result: 'success',
      }),
    ).toBe(1);
    expect(
      sample(await b.registry.metrics(), 'etcd_backup_attempts_total', {
        cluster: 'c',
        policy: 'p',
        result: 'success',
      }),
    ).toBeUndefined();
    expect(await a.registry.metrics()).toMatch(/^process_cpu_seconds_total /m);
  });
});
