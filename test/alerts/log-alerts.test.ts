/**
 * policies/log-alerts.rules.yml: promtool checks it and runs its unit tests (firing and quiet cases),
 * and the rules key only on metrics the daemon exports (src/metrics/log-metrics.ts).
 */
import { createLogMetrics } from '../../src/metrics/log-metrics.js';
import { describeRuleFile } from './rule-file.js';

describeRuleFile({
  rules: 'log-alerts.rules.yml',
  tests: 'log-alerts.rules.test.yml',
  alerts: ['EtcdBackupLogGap', 'EtcdBackupLogLagHigh'],
  runbook: 'revision-log.md',
  register: (r) => createLogMetrics(r),
  metricNames: 5,
});
