/**
 * In-place restore of a running cluster dr itself started (local control): refused while the cluster is
 * healthy, then forced; dr "dies" after the second member's data dir is written, with a third member's
 * restore left half done and a stand-in for its restore tool still running on the staging dir (as after a
 * SIGKILL of dr: its children live on); --resume waits for that process and, when it is still there after
 * the wait, refuses naming it; once it is gone --resume completes the restore and the moved-aside data
 * dirs are still there.
 */
import { spawn } from 'node:child_process';
import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { localControl } from '../../src/restore/control/local.js';
import { executeRestore, resumeRestore, SimulatedCrash } from '../../src/restore/execute.js';
import { readJournal, JournalWriter } from '../../src/restore/journal.js';
import type { MembersFile } from '../../src/config/members-file.js';
import { stagingDir } from '../../src/restore/plan.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { waitHealthy } from '../../src/etcd/member-process.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';
import { clusterIdOf, etcdctl, localTarget, manifestFor, stopLocal } from './helpers.js';

describe('restore in place, interrupted and resumed', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let target: MembersFile;
  let manifest: Manifest;
  let snapshot: string;
  let eps: string[];

  beforeAll(async () => {
    work = await tempDir('dr-resume-');
    target = await localTarget(work.dir, ['n1', 'n2', 'n3']);
    const initialCluster = target.members.map((m) => `${m.name}=${m.peerURLs[0]}`).join(',');
    await Promise.all(
      target.members.map((m) => localControl({ member: m, initialCluster, token: 'old-token' }).start()),
    );
    eps = target.members.map((m) => m.clientURLs[0]!);
    await Promise.all(eps.map((e) => waitHealthy(e, { timeoutMs: 60_000 })));
    for (let i = 0; i < 20; i++) etcdctl(eps, 'put', `/keep/${i}`, `v${i}`);
    snapshot = path.join(work.dir, 'snap.db');
    etcdctl([eps[0]!], 'snapshot', 'save', snapshot);
    manifest = manifestFor(snapshot, { clusterId: clusterIdOf(eps[0]!) });
    etcdctl(eps, 'put', '/lost/after-backup', 'x');
  });
  afterAll(async () => {
    await stopLocal(target);
    await work?.cleanup();
  });

  it('refuses while the old cluster is healthy, unless forced', async () => {
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals.map((r) => r.code)).toEqual(['OLD_CLUSTER_HEALTHY']);
    const journalFile = path.join(work.dir, 'refused.json');
    const err = await executeRestore(plan, { manifest, source: { file: snapshot }, journalFile }).catch(
      (e: unknown) => e,
    );
    expect(isDrError(err, 'RESTORE_REFUSED')).toBe(true);
    await expect(access(journalFile)).rejects.toThrow(); // nothing started
    etcdctl(eps, 'put', '/still/alive', 'yes'); // and the cluster was not touched
  });

  it('is interrupted after the second data dir is written and completes on --resume', async () => {
    const now = new Date();
    const plan = await prepareRestore({ manifest, target, now, force: true });
    expect(plan.refusals).toEqual([]);
    expect(
      plan.newCluster.members.every((m) =>
        m.dataAside?.endsWith(
          '.dr-aside-' +
            now
              .toISOString()
              .replace(/[-:]/g, '')
              .replace(/\.\d+Z$/, 'Z'),
        ),
      ),
    ).toBe(true);
    const journalFile = path.join(work.dir, 'restore.json');
    let restored = 0;
    const err = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile,
      afterStep: (id) => {
        if (id.startsWith('restore:') && ++restored === 2) throw new SimulatedCrash();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimulatedCrash);

    // The third member's restore is made half done, as if dr died while etcdctl was writing it.
    const j = await readJournal(journalFile);
    const doneRestores = j.steps
      .filter((s) => s.id.startsWith('restore:') && s.state === 'done')
      .map((s) => s.id);
    expect(doneRestores.length).toBeGreaterThanOrEqual(2);
    const victim =
      target.members.find((m) => !doneRestores.includes(`restore:${m.name}`)) ?? target.members[2]!;
    const writer = new JournalWriter(journalFile, j, () => new Date());
    await writer.update(() => {
      const s = writer.step(`restore:${victim.name}`);
      s.state = 'running';
      delete s.detail;
    });
    await import('node:fs/promises').then((fs) => fs.rm(victim.dataDir, { recursive: true, force: true }));
    await mkdir(path.join(stagingDir(victim.dataDir), 'member', 'snap'), { recursive: true });
    await writeFile(path.join(stagingDir(victim.dataDir), 'member', 'snap', 'db'), 'torn');
    // every member is down at this point: the cluster is gone until the restore finishes
    expect(j.steps.filter((s) => s.id.startsWith('stop:')).every((s) => s.state === 'done')).toBe(true);

    // the killed run's restore tool lives on, writing the staging dir: a stand-in naming it as etcdutl does
    const tool = spawn('sh', ['-c', 'sleep 60; :', 'etcdutl', '--data-dir', stagingDir(victim.dataDir)], {
      stdio: 'ignore',
    });
    const toolGone = new Promise((r) => tool.once('exit', r));
    const refused = await resumeRestore(journalFile, { timeouts: { writersMs: 600 } }).catch(
      (e: unknown) => e,
    );
    expect(isDrError(refused, 'RESTORE_REFUSED')).toBe(true);
    expect((refused as Error).message).toContain(`pid ${tool.pid} (sh -c sleep 60; : etcdutl --data-dir`);
    expect((refused as Error).message).toContain('dr restore --resume');
    // nothing of the staging dir was touched while it ran
    expect(await readdir(path.join(stagingDir(victim.dataDir), 'member', 'snap'))).toEqual(['db']);
    tool.kill('SIGKILL');
    await toolGone;

    const result = await resumeRestore(journalFile);
    expect(result.ok).toBe(true);
    const untouched = doneRestores.filter((id) => id !== `restore:${victim.name}`);
    expect(untouched.length).toBeGreaterThanOrEqual(2);
    expect(result.skipped).toEqual(
      expect.arrayContaining(['fetch', 'stop:n1', 'move-aside:n1', ...untouched]),
    );
    expect(result.skipped).not.toContain(`restore:${victim.name}`);
    expect(clusterIdOf(eps[0]!)).toBe(plan.newCluster.clusterId);
    expect(etcdctl(eps, 'get', '/keep/7', '--print-value-only').trim()).toBe('v7');
    expect(etcdctl(eps, 'get', '/lost/after-backup').trim()).toBe('');
    expect(result.verification.revision).toBe(manifest.snapshot.revision);
    // the old data is kept, whole
    for (const m of plan.newCluster.members) {
      expect(await readdir(m.dataAside!)).toEqual(['member']);
    }
    const final = await readJournal(journalFile);
    expect(final.status).toBe('done');
    expect(final.steps.find((s) => s.id === `restore:${victim.name}`)!.attempts).toBe(3);
    // the fetch ran before the crash, not in this run: etcd's restore tool (etcdutl from 3.5 on, etcdctl
    // for 3.4) checked the scratch copy itself
    expect(final.steps.find((s) => s.id === `restore:${victim.name}`)!.detail?.snapshotCheckedBy).toBe(
      etcdAtLeast(3, 5) ? 'etcdutl' : 'etcdctl',
    );
  });
});
