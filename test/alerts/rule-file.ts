/**
 * The checks every alert rule file of policies/ gets (drill-alerts, log-alerts): promtool accepts it and
 * its unit tests pass; every alert has a severity, a description, a runbook section that exists, and
 * firing and quiet test cases; the rules key only on metrics the daemon exports.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const run = promisify(execFile);
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** promtool's exit code and output; promtool missing fails the test (never skips) */
export async function promtool(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(PROMTOOL, args, { cwd: ROOT });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err; // promtool missing: fail loudly, never skip
    return { code: e.code, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

export function describeRuleFile(o: {
  /** under policies/ */
  rules: string;
  /** under test/alerts/ */
  tests: string;
  alerts: string[];
  /** under runbooks/ */
  runbook: string;
  /** registers the metrics the rules key on */
  register: (r: Registry) => void;
  /** how many distinct metric names the rules use */
  metricNames: number;
}): void {
  const RULES = path.join(ROOT, 'policies', o.rules);
  const TESTS = path.join(ROOT, 'test/alerts', o.tests);
  const rules = async (): Promise<Rule[]> =>
    (parse(await readFile(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

  describe(`policies/${o.rules}`, () => {
    it('passes promtool check rules and its promtool unit tests', async () => {
      const c = await promtool('check', 'rules', RULES);
      expect(c.out).toContain(`SUCCESS: ${o.alerts.length} rules found`);
      expect(c.code).toBe(0);
      const t = await promtool('test', 'rules', TESTS);
      expect(t.out).toContain('SUCCESS');
      expect(t.code).toBe(0);
    });

    it('every alert has a severity, a description, a runbook that exists, and is tested firing and quiet', async () => {
      const rs = await rules();
      expect(rs.map((r) => r.alert)).toEqual(o.alerts);
      const tests = parse(await readFile(TESTS, 'utf8')) as {
        tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
      };
      const cases = tests.tests.flatMap((t) => t.alert_rule_test);
      const runbook = await readFile(path.join(ROOT, 'runbooks', o.runbook), 'utf8');
      for (const r of rs) {
        expect(['critical', 'warning'], r.alert).toContain(r.labels?.severity);
        expect(r.annotations?.description?.length ?? 0, r.alert).toBeGreaterThan(40);
        expect(r.annotations?.runbook_url, r.alert).toBe(`runbooks/${o.runbook}#${r.alert.toLowerCase()}`);
        expect(runbook, r.alert).toContain(`## ${r.alert}`);
        const mine = cases.filter((c) => c.alertname === r.alert);
        expect(
          mine.some((c) => c.exp_alerts.length > 0),
          `${r.alert} firing`,
        ).toBe(true);
        expect(
          mine.some((c) => c.exp_alerts.length === 0),
          `${r.alert} quiet`,
        ).toBe(true);
      }
    });

    it('keys only on metrics the daemon exports', async () => {
      const used = new Set((await rules()).flatMap((r) => r.expr.match(/etcd_backup_[a-z_]+/g) ?? []));
      const registry = new Registry();
      o.register(registry);
      const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));
      expect(used.size).toBe(o.metricNames);
      for (const name of used) expect(exported, name).toContain(name);
    });
  });
}
