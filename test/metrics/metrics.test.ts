import { describe, expect, it } from 'vitest';
import {
  createMetrics,
  forgetPolicyMetrics,
  seedPolicyMetrics,
  setAuditMetrics,
} from '../../src/metrics/metrics.js';
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
    // no audit series before the first online audit, and no "critical" severity ever
    expect(text).not.toMatch(/^etcd_backup_audit_findings\{/m);

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

  it('exports the online audit per cluster: findings by severity, divergence and one up gauge per endpoint', async () => {
    const m = createMetrics({ defaultMetrics: false });
    setAuditMetrics(m, [
      {
        cluster: 'prod',
        findings: { error: 1, info: 2 },
        divergent: 0,
        members: [
          { endpoint: 'https://10.0.0.1:2379', up: true },
          { endpoint: 'https://10.0.0.2:2379', up: false },
        ],
      },
      // a cluster that does not answer at all: one error, every endpoint down
      {
        cluster: 'gone',
        findings: { error: 1 },
        divergent: 0,
        members: [{ endpoint: 'http://10.9.9.9:2379', up: false }],
      },
    ]);
    let text = await m.registry.metrics();
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'prod', severity: 'error' })).toBe(1);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'prod', severity: 'warning' })).toBe(0);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'prod', severity: 'info' })).toBe(2);
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'gone', severity: 'error' })).toBe(1);
    expect(text).not.toMatch(/severity="critical"/);
    expect(
      sample(text, 'etcd_backup_member_up', { cluster: 'prod', endpoint: 'https://10.0.0.1:2379' }),
    ).toBe(1);
    expect(
      sample(text, 'etcd_backup_member_up', { cluster: 'prod', endpoint: 'https://10.0.0.2:2379' }),
    ).toBe(0);
    expect(sample(text, 'etcd_backup_member_up', { cluster: 'gone', endpoint: 'http://10.9.9.9:2379' })).toBe(
      0,
    );
    expect(sample(text, 'etcd_backup_member_hash_divergence', { cluster: 'gone' })).toBe(0);

    // the next round replaces the last: a cluster removed by a reload disappears
    setAuditMetrics(m, [
      {
        cluster: 'prod',
        findings: {},
        divergent: 1,
        members: [{ endpoint: 'https://10.0.0.1:2379', up: true }],
      },
    ]);
    text = await m.registry.metrics();
    expect(sample(text, 'etcd_backup_audit_findings', { cluster: 'prod', severity: 'error' })).toBe(0);
    expect(sample(text, 'etcd_backup_member_hash_divergence', { cluster: 'prod' })).toBe(1);
    expect(
      sample(text, 'etcd_backup_audit_findings', { cluster: 'gone', severity: 'error' }),
    ).toBeUndefined();
    expect(
      sample(text, 'etcd_backup_member_up', { cluster: 'gone', endpoint: 'http://10.9.9.9:2379' }),
    ).toBeUndefined();
    expect(
      sample(text, 'etcd_backup_member_up', { cluster: 'prod', endpoint: 'https://10.0.0.2:2379' }),
    ).toBeUndefined();
  });
});
