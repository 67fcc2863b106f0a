/**
 * The whole restore against real etcd 3.4 on loopback: a 3-member cluster is written to, snapshotted and
 * destroyed; dr rebuilds it as a new cluster (other ports, other names) with local control.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { readJournal } from '../../src/restore/journal.js';
import type { MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { renderPlan } from '../../src/restore/render-plan.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { tempDir } from '../helpers/tmp.js';
import { clusterIdOf, etcdctl, localTarget, manifestFor, stopLocal } from './helpers.js';

describe('restore --to new-cluster (local control, 3 members)', () => {
  let old: TestCluster;
  let work: { dir: string; cleanup: () => Promise<void> };
  let target: MembersFile | undefined;
  let manifest: Manifest;
  let snapshot: string;
  let oldRevision: string;
  const keys = new Map<string, string>();

  beforeAll(async () => {
    work = await tempDir('dr-restore-');
    old = await startTestCluster({ size: 3 });
    for (let i = 0; i < 40; i++) {
      const k = `/registry/k${String(i).padStart(3, '0')}`;
      keys.set(k, `value-${i}`);
      etcdctl(old.endpoints, 'put', k, `value-${i}`);
    }
    snapshot = path.join(work.dir, 'snap.db');
    etcdctl([old.endpoints[0]!], 'snapshot', 'save', snapshot);
    const oldCid = clusterIdOf(old.endpoints[0]!);
    manifest = manifestFor(snapshot, { clusterId: oldCid });
    oldRevision = manifest.snapshot.revision;
    // the disaster: every member killed, every data dir gone
    for (let i = 0; i < 3; i++) await old.kill(i);
    await Promise.all(old.members.map((m) => rm(m.spec.dataDir, { recursive: true, force: true })));
  });
  afterAll(async () => {
    await stopLocal(target);
    await old?.stop();
    await work?.cleanup();
  });

  it('plans, restores, and brings every key and the revision back under a new cluster ID', async () => {
    target = await localTarget(work.dir, ['alpha', 'beta', 'gamma'], {
      oldCluster: { endpoints: old.endpoints },
    });
    const plan = await prepareRestore({ manifest, target, now: new Date(), snapshotFile: snapshot });
    expect(plan.refusals).toEqual([]);
    expect(plan.newCluster.token).toMatch(/^dr-20240101T000000Z-abcdef01-[0-9a-f]{6}$/);
    expect(plan.steps.map((s) => s.id)).toEqual([
      'fetch',
      'stop:alpha',
      'stop:beta',
      'stop:gamma',
      'restore:alpha',
      'restore:beta',
      'restore:gamma',
      'hash-offline',
      'start:alpha',
      'start:beta',
      'start:gamma',
      'wait-quorum',
      'wait-all',
      'verify',
    ]);
    expect(renderPlan(plan)).toContain(plan.newCluster.clusterId);

    const journalFile = path.join(work.dir, 'restore.journal.json');
    const result = await executeRestore(plan, { manifest, source: { file: snapshot }, journalFile });
    expect(result.ok).toBe(true);
    expect(result.verification.checks.filter((c) => !c.ok)).toEqual([]);
    // the fetch step checked the file in this run, so etcdctl's own re-check was left out
    const restoreSteps = plan.steps.filter((s) => s.kind === 'restore');
    expect(restoreSteps.every((s) => s.commands[0]!.includes('--skip-hash-check'))).toBe(true);
    const written = await readJournal(journalFile);
    expect(
      written.steps.filter((s) => s.id.startsWith('restore:')).map((s) => s.detail?.snapshotCheckedBy),
    ).toEqual(['dr (fetch step, this run)', 'dr (fetch step, this run)', 'dr (fetch step, this run)']);
    // every member answers the HashKV computed offline from the backup's own snapshot file
    expect(written.offlineHashKV?.revision).toBe(manifest.snapshot.revision);
    expect(Object.values(result.verification.hashKV)).toEqual([
      written.offlineHashKV!.hash,
      written.offlineHashKV!.hash,
      written.offlineHashKV!.hash,
    ]);
    expect(result.verification.checks.find((c) => c.name === 'hashkv')!.message).toMatch(/offline/);

    const eps = target.members.map((m) => m.clientURLs[0]!);
    const cid = clusterIdOf(eps[2]!);
    expect(cid).toBe(plan.newCluster.clusterId);
    expect(cid).not.toBe(manifest.source.clusterId);
    const status = etcdctl([eps[1]!], 'endpoint', 'status', '-w', 'json');
    expect(/"revision":(\d+)/.exec(status)![1]).toBe(oldRevision);
    const got = etcdctl([eps[2]!], 'get', '/registry/', '--prefix').trim().split('\n');
    const back = new Map<string, string>();
    for (let i = 0; i < got.length; i += 2) back.set(got[i]!, got[i + 1]!);
    expect(back).toEqual(keys);
    const list = etcdctl(eps, 'member', 'list');
    for (const m of plan.newCluster.members) expect(list).toContain(`${m.memberId}, started, ${m.name}`);

    const journal = await readJournal(journalFile);
    expect(journal.status).toBe('done');
    expect(journal.steps.every((s) => s.state === 'done')).toBe(true);
    expect(journal.verification?.ok).toBe(true);
  });
});
