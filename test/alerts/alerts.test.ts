import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/metrics.js';
import { tempDir } from '../helpers/tmp.js';
import { promtool, ROOT, type Rule } from './rule-file.js';

const RULES = path.join(ROOT, 'policies/alerts.rules.yml');
const TESTS = path.join(ROOT, 'test/alerts/alerts.rules.test.yml');
const ALERTS = [
  'EtcdBackupStale',
  'EtcdBackupMissing',
  'EtcdBackupFailing',
  'EtcdBackupVerificationStale',
  'EtcdMemberHashDivergence',
  'EtcdAuditFindings',
];

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('dr-alerts-'));
});
afterAll(async () => cleanup());

describe('policies/alerts.rules.yml', () => {
  it('passes promtool check rules', async () => {
    const r = await promtool('check', 'rules', RULES);
    expect(r.out).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(r.code).toBe(0);
  });

  it('passes its promtool unit tests (firing and quiet cases)', async () => {
    const r = await promtool('test', 'rules', TESTS);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('a wrong expectation makes promtool fail, so the unit tests can catch a broken rule', async () => {
    const wrong = path.join(dir, 'wrong.test.yml');
    await writeFile(
      wrong,
      [
        `rule_files: [${JSON.stringify(RULES)}]`,
        'tests:',
        '  - interval: 1m',
        '    input_series:',
        `      - series: 'etcd_backup_expected_interval_seconds{cluster="c",policy="p"}'`,
        `        values: '3600x60'`,
        `      - series: 'etcd_backup_last_success_timestamp_seconds{cluster="c",policy="p"}'`,
        `        values: '0+60x60'`,
        '    alert_rule_test:',
        '      - eval_time: 30m',
        '        alertname: EtcdBackupStale',
        '        exp_alerts: [{ exp_labels: { severity: critical, cluster: c, policy: p } }]',
      ].join('\n'),
    );
    const r = await promtool('test', 'rules', wrong);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('FAILED');
  });

  it('every alert has a severity, a summary, a description and a runbook under runbooks/', async () => {
    const doc = parse(await readFile(RULES, 'utf8')) as { groups: { rules: Rule[] }[] };
    const rules = doc.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(ALERTS);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description?.length ?? 0, r.alert).toBeGreaterThan(40);
      expect(r.annotations?.runbook_url, r.alert).toMatch(/^runbooks\/[a-z0-9-]+\.md(#[a-z0-9-]+)?$/);
    }
  });

  it('every alert is tested both firing and quiet', async () => {
    const doc = parse(await readFile(TESTS, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = doc.tests.flatMap((t) => t.alert_rule_test);
    for (const alert of ALERTS) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} firing`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} quiet`,
      ).toBe(true);
    }
  });

  it('keys only on metrics the daemon exports', async () => {
    const text = await readFile(RULES, 'utf8');
    const rules = (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    const used = new Set(rules.flatMap((r) => r.expr.match(/etcd_backup_[a-z_]+/g) ?? []));
    const exported = new Set(
      createMetrics({ defaultMetrics: false })
        .registry.getMetricsAsArray()
        .map((m) => m.name),
    );
    // Exported once the online audit runs in the daemon (issue 5 item 6); see the rule's comment.
    const pending = new Set(['etcd_backup_member_hash_divergence']);
    for (const name of used) {
      if (!pending.has(name)) expect(exported, name).toContain(name);
    }
    expect(used).toContain('etcd_backup_last_success_timestamp_seconds');
  });
});
