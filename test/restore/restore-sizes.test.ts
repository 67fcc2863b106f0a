/** 1-member and 5-member restores from a real snapshot file (local control, loopback). */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import type { MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { clusterIdOf, etcdctl, localTarget, manifestFor, stopLocal } from './helpers.js';

describe('restore to 1 and 5 members', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;
  const targets: MembersFile[] = [];

  beforeAll(async () => {
    work = await tempDir('dr-sizes-');
    snapshot = await makeSnapshotFile(work.dir, { keys: 30 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    for (const t of targets) await stopLocal(t);
    await work?.cleanup();
  });

  for (const size of [1, 5]) {
    it(`restores a ${size}-member cluster`, async () => {
      const target = await localTarget(
        path.join(work.dir, `c${size}`),
        Array.from({ length: size }, (_, i) => `s${size}-${i}`),
      );
      targets.push(target);
      const plan = await prepareRestore({ manifest, target, now: new Date(), token: `tok-${size}` });
      expect(plan.refusals).toEqual([]);
      expect(plan.newCluster.quorum).toBe(Math.floor(size / 2) + 1);
      // every member is started, in plan order, before the waits for a leader and for all members
      const waitAt = plan.steps.findIndex((s) => s.id === 'wait-quorum');
      expect(plan.steps.slice(0, waitAt).filter((s) => s.kind === 'start')).toHaveLength(size);
      // the offline HashKV runs beside etcd's restore tool, in its parallel group, before every start
      const hashAt = plan.steps.findIndex((s) => s.id === 'hash-offline');
      expect(plan.steps[hashAt - 1]!.kind).toBe('restore');
      expect(plan.steps[hashAt + 1]!.kind).toBe('start');
      expect(plan.steps[hashAt]!.parallelGroup).toBe('restore');
      expect(plan.steps[hashAt - 1]!.parallelGroup).toBe('restore');
      expect(plan.steps.at(-3)!.id).toBe('wait-quorum');
      const result = await executeRestore(plan, {
        manifest,
        source: { file: snapshot },
        journalFile: path.join(work.dir, `j${size}.json`),
      });
      expect(result.verification.ok).toBe(true);
      const eps = target.members.map((m) => m.clientURLs[0]!);
      expect(clusterIdOf(eps[size - 1]!)).toBe(plan.newCluster.clusterId);
      expect(etcdctl(eps, 'get', '/registry/configmaps/default/cm-29', '--print-value-only').trim()).toMatch(
        /v+29$/,
      );
      expect(result.verification.keyCount).toBe(30);
      expect(result.verification.revision).toBe(manifest.snapshot.revision);
    });
  }
});
