/**
 * DR_TEST_CPU_LOG=FILE: appends, per test file, the CPU seconds (user, system) the vitest worker itself
 * spent in it, beside the dr runs test/helpers/dr.ts logs there: a diagnostic for where the suite's time
 * goes (docs/testing.md). Does nothing without the variable.
 */
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

const log = process.env.DR_TEST_CPU_LOG;
if (log) {
  let start: NodeJS.CpuUsage;
  let file = '?';
  beforeAll(() => {
    start = process.cpuUsage();
    file = path.relative(process.cwd(), expect.getState().testPath ?? '?');
  });
  afterAll(() => {
    const d = process.cpuUsage(start);
    appendFileSync(
      log,
      `${(d.user / 1e6).toFixed(2)} ${(d.system / 1e6).toFixed(2)} - ${file} (vitest worker)\n`,
    );
  });
}
