/**
 * policies/drill-alerts.rules.yml: promtool checks it and runs its unit tests (firing and quiet cases),
 * and the rules key only on metrics the daemon exports (src/metrics/drill-metrics.ts).
 */
import { createDrillMetrics } from '../../src/metrics/drill-metrics.js';
import { describeRuleFile } from './rule-file.js';

describeRuleFile({
  rules: 'drill-alerts.rules.yml',
  tests: 'drill-alerts.rules.test.yml',
  alerts: ['EtcdBackupDrillStale', 'EtcdBackupDrillFailing'],
  runbook: 'drill.md',
  register: (r) => createDrillMetrics(r),
  metricNames: 3,
});
