/**
 * A member that dies right after it is started is reported at once: which member, its exit code, where
 * its log is and how the log ends, and which steps were done and which were not. The wait's own timeout
 * is set far beyond the test's, so a wait that sat it out would fail the test instead of passing it.
 */
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore, type RestoreFailureReport } from '../../src/restore/execute.js';
import type { MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { localTarget, manifestFor, stopLocal } from './helpers.js';

describe('a restored member that exits at start', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;
  let target: MembersFile | undefined;
  let squatter: Server | undefined;

  beforeAll(async () => {
    work = await tempDir('dr-dies-');
    snapshot = await makeSnapshotFile(work.dir, { keys: 5 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    squatter?.close();
    await stopLocal(target);
    await work?.cleanup();
  });

  it('fails the wait at once with its exit code and the end of its log', async () => {
    target = await localTarget(work.dir, ['d1', 'd2', 'd3']);
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals).toEqual([]);
    const d2 = target.members[1]!;
    const peerPort = Number(new URL(d2.peerURLs[0]!).port);
    let err: unknown;
    try {
      await executeRestore(plan, {
        manifest,
        source: { file: snapshot },
        journalFile: path.join(work.dir, 'j.json'),
        timeouts: { quorumMs: 3_600_000, allMs: 3_600_000 },
        // after d1 is started and before d2 is: something else takes d2's peer port, so d2's etcd exits
        afterStep: async (id) => {
          if (id !== 'start:d1') return;
          squatter = createServer();
          await new Promise<void>((resolve) => squatter!.listen(peerPort, '127.0.0.1', resolve));
        },
      });
    } catch (e) {
      err = e;
    }
    expect(isDrError(err)).toBe(true);
    if (!isDrError(err)) return;
    expect(err.code).toBe('ETCD_REQUEST_FAILED');
    expect(err.message).toMatch(/member d2 exited with code [1-9]\d* after it was started/);
    expect(err.message).toContain(`${d2.dataDir}.log`);
    expect(err.message).toMatch(/address already in use/);
    expect(err.message).toMatch(/not done: wait-quorum, wait-all, verify/);
    const report = err.details as unknown as RestoreFailureReport;
    expect(report.failedStep).toBe('wait-quorum');
    expect(report.done).toContain('start:d3');
    expect(report.notDone).toEqual(['wait-quorum', 'wait-all', 'verify']);
    expect(err.message).not.toMatch(/\n\s+at .*\.(ts|js):\d+/); // no stack trace
  }, 120_000);
});
