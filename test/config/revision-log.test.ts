/** The `revisionLog:` block of a policy: defaults, every option, and errors with file:line:column. */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { errorsOf, policyConfig as config } from './policy-block.js';

describe('config: policies[].revisionLog', () => {
  it("defaults: the policy's first storage target, 5 s segments of at most 4 MiB, checkpoints every 5 min", () => {
    const c = parseConfigText(config('    revisionLog: {}'), 'dr.yaml', { offline: true });
    expect(c.policies[0]!.revisionLog).toEqual({
      storage: 'disk',
      segmentSeconds: 5,
      segmentMaxBytes: 4 << 20,
      checkpointEverySeconds: 300,
      lagAlertSeconds: 120,
    });
  });

  it('takes every option; a policy without the block has no log', () => {
    const c = parseConfigText(
      config(
        '    revisionLog:\n      storage: far\n      segmentSeconds: 2\n      segmentMaxBytes: 1048576\n      checkpointEverySeconds: 0\n      lagAlertSeconds: 60',
      ),
      'dr.yaml',
      { offline: true },
    );
    expect(c.policies[0]!.revisionLog).toEqual({
      storage: 'far',
      segmentSeconds: 2,
      segmentMaxBytes: 1048576,
      checkpointEverySeconds: 0,
      lagAlertSeconds: 60,
    });
    expect(parseConfigText(config(''), 'dr.yaml', { offline: true }).policies[0]!.revisionLog).toBeNull();
  });

  it('reports every error with its position', () => {
    const errors = errorsOf(
      config(
        '    revisionLog:\n      storage: elsewhere\n      segmentSeconds: 0\n      checkpointEverySeconds: -1\n      rpo: 5',
        '[disk]',
      ),
    );
    expect(errors).toEqual([
      'dr.yaml:15:16: policies[0].revisionLog.storage: the revision log extends the policy\'s own backups: "elsewhere" is not one of its storage targets',
      expect.stringMatching(/^dr\.yaml:16:23: policies\[0\]\.revisionLog\.segmentSeconds: /),
      expect.stringMatching(/^dr\.yaml:17:31: policies\[0\]\.revisionLog\.checkpointEverySeconds: /),
      expect.stringMatching(/^dr\.yaml:18:7: policies\[0\]\.revisionLog\.rpo: unknown option "rpo"/),
    ]);
  });
});
