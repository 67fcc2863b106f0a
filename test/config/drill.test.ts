/** The `drill:` block of a policy: defaults, and errors with file:line:column. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { errorsOf, policyConfig as config } from './policy-block.js';

describe('config: policies[].drill', () => {
  it('defaults: one member, the first storage target, stale after twice the drill interval', () => {
    const c = parseConfigText(config('    drill: { schedule: "0 4 * * 0" }'), 'dr.yaml', { offline: true });
    expect(c.policies[0]!.drill).toEqual({
      schedule: '0 4 * * 0',
      members: 1,
      storage: 'disk',
      etcdBinDirs: [],
      workDir: undefined,
      expectedIntervalSeconds: 7 * 86400,
      staleAfterSeconds: 14 * 86400,
    });
  });

  it('takes every option', () => {
    const c = parseConfigText(
      config(
        '    drill:\n      schedule: "30 3 * * *"\n      members: 3\n      storage: far\n      staleAfterSeconds: 90000\n      etcdBinDirs: [/opt/etcd-v3.5.16]\n      workDir: /var/tmp',
      ),
      'dr.yaml',
      { offline: true },
    );
    expect(c.policies[0]!.drill).toMatchObject({
      members: 3,
      storage: 'far',
      staleAfterSeconds: 90000,
      etcdBinDirs: ['/opt/etcd-v3.5.16'],
      workDir: '/var/tmp',
      expectedIntervalSeconds: 86400,
    });
  });

  it('a policy without drill has none', () => {
    expect(parseConfigText(config(''), 'dr.yaml', { offline: true }).policies[0]!.drill).toBeNull();
  });

  it('reports every error with its position', () => {
    const errors = errorsOf(
      config(
        '    drill:\n      schedule: "61 * * * *"\n      members: 2\n      storage: elsewhere\n      etcdBinDirs: [relative/dir]\n      retries: 3',
        '[disk]',
      ),
    );
    expect(errors).toEqual([
      expect.stringMatching(
        /^dr\.yaml:15:17: policies\[0\]\.drill\.schedule: invalid cron expression "61 \* \* \* \*"/,
      ),
      expect.stringMatching(/^dr\.yaml:16:16: policies\[0\]\.drill\.members: /),
      'dr.yaml:17:16: policies[0].drill.storage: drills read the policy\'s own backups: "elsewhere" is not one of its storage targets',
      'dr.yaml:18:21: policies[0].drill.etcdBinDirs[0]: must be an absolute path',
      expect.stringMatching(/^dr\.yaml:19:7: policies\[0\]\.drill\.retries: unknown option "retries"/),
    ]);
  });
});
