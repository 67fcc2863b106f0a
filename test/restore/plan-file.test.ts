/**
 * The reviewed plan is the plan that runs: a plan written to a file runs as it is (its token, so its
 * cluster and member IDs), and refuses to run, before any change, when what it was made from changed:
 * the members file, the backup's sha256, dr's version, the plan text itself, or the facts (a different
 * restore tool now gives a different command).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import {
  checkPlanFile,
  readPlanFile,
  scratchSnapshotPath,
  writePlanFile,
  type PlanFile,
} from '../../src/restore/plan-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { clusterIdOf, localTarget, manifestFor, stopLocal } from './helpers.js';

describe('a restore plan file', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;
  let target: MembersFile | undefined;

  beforeAll(async () => {
    work = await tempDir('dr-planfile-');
    snapshot = await makeSnapshotFile(work.dir, { keys: 6 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    await stopLocal(target);
    await work?.cleanup();
  });

  function refusal(fn: () => unknown): DrError {
    try {
      fn();
    } catch (err) {
      if (isDrError(err)) return err;
      throw err;
    }
    throw new Error('no refusal');
  }

  it('refuses when the members file, the backup, dr or the plan changed; runs as written otherwise', async () => {
    target = await localTarget(work.dir, ['p1', 'p2', 'p3']);
    const plan = await prepareRestore({ manifest, target, now: new Date(), scratchDir: work.dir });
    expect(plan.refusals).toEqual([]);
    // the plan names the real scratch path, the one the executor creates
    expect(plan.snapshotFile).toBe(scratchSnapshotPath(work.dir, manifest.id, plan.newCluster.token));
    expect(plan.steps[0]!.commands[0]).toContain(`--out ${plan.snapshotFile}`);
    const file = path.join(work.dir, 'plan.json');
    await writePlanFile(file, plan);
    const doc = await readPlanFile(file);
    expect(doc.plan).toEqual(plan);

    // the members file changed (timings), another backup, another dr, an edited plan
    const slower = parseMembers({ ...target, timing: { heartbeatInterval: 300, electionTimeout: 3000 } });
    expect(refusal(() => checkPlanFile(doc, file, { manifest, target: slower })).message).toMatch(
      /the members file changed since/,
    );
    const other = { ...manifest, snapshot: { ...manifest.snapshot, sha256: 'e'.repeat(64) } };
    const e2 = refusal(() => checkPlanFile(doc, file, { manifest: other, target: target! }));
    expect(e2.code).toBe('RESTORE_REFUSED');
    expect(e2.message).toContain(`sha256 ${'e'.repeat(64)}`);
    const oldDr: PlanFile = { ...doc, drVersion: '0.0.0-old' };
    expect(refusal(() => checkPlanFile(oldDr, file, { manifest, target: target! })).message).toMatch(
      /dr version 0\.0\.0-old made it/,
    );
    const edited = JSON.parse(await readFile(file, 'utf8')) as PlanFile;
    edited.plan.target.members[0]!.dataDir = '/elsewhere';
    expect(refusal(() => checkPlanFile(edited, file, { manifest, target: target! })).message).toMatch(
      /edited after it was written/,
    );

    // the facts changed: the plan says another restore tool version than the one found now
    const drifted = JSON.parse(JSON.stringify(doc.plan)) as typeof plan;
    drifted.newCluster.members[1]!.tool = { kind: 'etcdutl', version: '9.9.9' };
    const err = await executeRestore(drifted, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'drift.journal.json'),
    }).catch((e: unknown) => e);
    expect(isDrError(err, 'RESTORE_REFUSED')).toBe(true);
    expect((err as Error).message).toMatch(
      /member p2: restore tool etcdutl 9\.9\.9 in the plan, \S+ \S+ now/,
    );

    // unchanged: it runs, under the cluster ID the plan showed
    const ok = checkPlanFile(doc, file, { manifest, target });
    const r = await executeRestore(ok, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'j.json'),
    });
    expect(r.ok).toBe(true);
    expect(clusterIdOf(target.members[0]!.clientURLs[0]!)).toBe(plan.newCluster.clusterId);
  }, 180_000);
});
