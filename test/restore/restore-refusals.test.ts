/** What stops a restore before anything changes: real files, real etcd tools, a real (absent) PATH. */
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore, type RestoreFailureReport } from '../../src/restore/execute.js';
import { readJournal } from '../../src/restore/journal.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { findRestoreTool } from '../../src/restore/tool.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { etcdAtLeast, etcdBinary, etcdVersion } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';
import { localTarget, manifestFor } from './helpers.js';

describe('restore refusals', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;

  beforeAll(async () => {
    work = await tempDir('dr-refuse-');
    snapshot = await makeSnapshotFile(work.dir, { keys: 5 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => work?.cleanup());

  it('refuses a non-empty data dir that does not look like etcd, and leaves it alone', async () => {
    const target = await localTarget(path.join(work.dir, 'a'), ['x1']);
    const dd = target.members[0]!.dataDir;
    await mkdir(path.join(dd, 'member'), { recursive: true });
    await writeFile(path.join(dd, 'precious.txt'), 'not etcd');
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals).toEqual([
      expect.objectContaining({ code: 'DATA_DIR_NOT_ETCD', member: 'x1', forceable: false }),
    ]);
    expect(plan.refusals[0]!.message).toContain('precious.txt');
    const err = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile: path.join(work.dir, 'a.json'),
    }).catch((e: unknown) => e);
    expect(isDrError(err, 'RESTORE_REFUSED') && err.exitCode).toBe(2);
    expect(await readFile(path.join(dd, 'precious.txt'), 'utf8')).toBe('not etcd');
  });

  it('stops at the fetch step when the snapshot sha256 does not match, before stopping anything', async () => {
    const target = await localTarget(path.join(work.dir, 'b'), ['y1', 'y2', 'y3']);
    const bad = path.join(work.dir, 'bad.db');
    await copyFile(snapshot, bad);
    const bytes = await readFile(bad);
    bytes[5000] = bytes[5000]! ^ 0xff;
    await writeFile(bad, bytes);
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals).toEqual([]);
    const journalFile = path.join(work.dir, 'b.json');
    const err = await executeRestore(plan, { manifest, source: { file: bad }, journalFile }).catch(
      (e: unknown) => e,
    );
    expect(isDrError(err, 'VERIFY_FAILED')).toBe(true);
    const report = (err as DrError).details as unknown as RestoreFailureReport;
    expect(report.failedStep).toBe('fetch');
    expect(report.done).toEqual([]);
    expect(report.notDone).toContain('stop:y1');
    const j = await readJournal(journalFile);
    expect(j.status).toBe('failed');
    expect(j.steps.find((s) => s.id === 'fetch')!.error!.message).toMatch(/sha256/);
    expect(j.steps.filter((s) => s.id !== 'fetch').every((s) => s.state === 'pending')).toBe(true);
  });

  it('refuses when no etcd restore tool is on the PATH (exit 2, names what it tried)', async () => {
    const bin = path.join(work.dir, 'bin');
    await mkdir(bin);
    await symlink(etcdBinary('etcd')!, path.join(bin, 'etcd'));
    const saved = process.env.PATH;
    process.env.PATH = bin;
    try {
      const err = await findRestoreTool().catch((e: unknown) => e);
      expect(isDrError(err, 'CONFIG_INVALID') && err.exitCode).toBe(2);
      expect((err as Error).message).toMatch(/tried etcdutl.*, etcdctl/);
      const target = await localTarget(path.join(work.dir, 'c'), ['z1']);
      const plan = await prepareRestore({ manifest, target, now: new Date() });
      expect(plan.refusals.map((r) => r.code)).toEqual(['NO_RESTORE_TOOL']);
    } finally {
      process.env.PATH = saved;
    }
    // with the PATH back, the tool of the etcd under test: etcdutl from 3.5 on, etcdctl for 3.4
    const tool = await findRestoreTool();
    expect(tool).toMatchObject({
      kind: etcdAtLeast(3, 5) ? 'etcdutl' : 'etcdctl',
      version: etcdVersion().text,
    });
  });
});
