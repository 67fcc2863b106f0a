/**
 * `manual` control, driven through its prompts: the test plays the operator and runs exactly the command
 * dr printed, so a wrong command line fails the restore.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { readJournal } from '../../src/restore/journal.js';
import { parseMembers } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { etcdctl, localTarget, manifestFor } from './helpers.js';

describe('restore with manual members', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    work = await tempDir('dr-manual-');
    snapshot = await makeSnapshotFile(work.dir, { keys: 10 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    await work?.cleanup();
  });

  async function manualTarget(sub: string) {
    const t = await localTarget(path.join(work.dir, sub), ['op-a', 'op-b', 'op-c']);
    return parseMembers({ ...t, members: t.members.map((m) => ({ ...m, control: { type: 'manual' } })) });
  }

  it('prints the exact commands, waits for "done", re-asks on anything else', async () => {
    const target = await manualTarget('ok');
    const prompts: string[] = [];
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals).toEqual([]);
    const result = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'ok.json'),
      prompt: async (message) => {
        prompts.push(message);
        if (prompts.length === 1) return 'what?'; // not an answer: asked again
        const start = /^Start member (\S+) now:\n {4}(.+)$/m.exec(message);
        if (start) {
          const child = spawn('sh', ['-c', `exec ${start[2]!}`], { stdio: 'ignore' });
          procs.push(child);
        }
        return 'done';
      },
    });
    expect(result.verification.ok).toBe(true);
    expect(prompts[0]).toBe(prompts[1]);
    expect(prompts.filter((p) => p.startsWith('Stop member'))).toHaveLength(4); // one re-asked
    const starts = prompts.filter((p) => p.startsWith('Start member'));
    expect(starts).toHaveLength(3);
    expect(starts[0]).toContain(`--initial-cluster-token ${plan.newCluster.token}`);
    expect(starts[0]).toContain(`--data-dir ${target.members[0]!.dataDir}`);
    const eps = target.members.map((m) => m.clientURLs[0]!);
    expect(etcdctl(eps, 'get', '/registry/configmaps/default/cm-3', '--print-value-only').trim()).toMatch(
      /3$/,
    );
  });

  it('stops when the operator answers "abort", and the journal shows where', async () => {
    const target = await manualTarget('abort');
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    const journalFile = path.join(work.dir, 'abort.json');
    const err = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile,
      prompt: async () => 'abort',
    }).catch((e: unknown) => e);
    expect(isDrError(err, 'ABORTED')).toBe(true);
    const j = await readJournal(journalFile);
    expect(j.steps.find((s) => s.id === 'fetch')!.state).toBe('done');
    expect(j.steps.find((s) => s.id.startsWith('stop:') && s.state === 'failed')).toBeDefined();
    expect(j.steps.filter((s) => s.id.startsWith('restore:')).every((s) => s.state === 'pending')).toBe(true);
  });
});
