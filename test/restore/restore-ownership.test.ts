/**
 * Ownership and privacy of what a restore writes: a restored data dir gets the owner and group of the dir
 * it replaces (or the member's owner:) and mode 0700; the snapshot copy uploaded to a member (here through
 * "bash -c" standing in for ssh) is 0600 under a private mktemp name and is gone when the restore ends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { sshHost, type MemberHost } from '../../src/restore/host.js';
import { readJournal } from '../../src/restore/journal.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { localTarget, manifestFor, stopLocal } from './helpers.js';

const root = process.getuid?.() === 0;

describe('ownership and privacy of a restore', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let snapshot: string;
  let target: MembersFile | undefined;

  beforeAll(async () => {
    work = await tempDir('dr-owner-');
    await chmod(work.dir, 0o755); // the members' etcd may run as another user
    snapshot = await makeSnapshotFile(work.dir, { keys: 4 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    await stopLocal(target);
    await work?.cleanup();
  });

  it('gives restored dirs the replaced dir owner (or owner:) and 0700; uploaded copies are 0600 and removed', async () => {
    const base = await localTarget(work.dir, ['w1', 'w2', 'w3']);
    // as root, real other owners; otherwise dr's own uid (the only one it can give)
    const [u1, g1] = root ? [4242, 4243] : [process.getuid!(), process.getgid!()];
    const owner2 = root ? '4300:4301' : `${process.getuid!()}:${process.getgid!()}`;
    target = parseMembers({
      ...base,
      members: base.members.map((m, i) => (i === 1 ? { ...m, owner: owner2 } : m)),
    });
    const [w1, w2, w3] = target.members;
    // w1 replaces an old data dir that belonged to another user, mode 0755
    await mkdir(path.join(w1!.dataDir, 'member'), { recursive: true });
    await writeFile(path.join(w1!.dataDir, 'member', 'old'), '');
    await chown(w1!.dataDir, u1, g1);
    await chmod(w1!.dataDir, 0o755);

    const transport = sshHost('bash -c');
    const uploads: { file: string; mode: number }[] = [];
    const host: MemberHost = {
      ...transport,
      upload: async (f, signal) => {
        const p = await transport.upload(f, signal);
        uploads.push({ file: p, mode: statSync(p).mode & 0o777 });
        return p;
      },
    };
    const plan = await prepareRestore({ manifest, target, now: new Date(), hostFor: () => host });
    expect(plan.refusals).toEqual([]);
    expect(plan.newCluster.members.map((m) => m.owner)).toEqual([`${u1}:${g1}`, owner2, null]);
    const step = plan.steps.find((s) => s.id === 'restore:w1')!;
    expect(step.commands.join('\n')).toContain(
      `chown -R ${u1}:${g1} ${w1!.dataDir}.dr-restoring && chmod 700`,
    );

    const journalFile = path.join(work.dir, 'j.json');
    const r = await executeRestore(plan, {
      manifest,
      source: { file: snapshot },
      journalFile,
      hostFor: () => host,
    });
    expect(r.ok).toBe(true);
    const st = (p: string) => {
      const s = statSync(p);
      return { uid: s.uid, gid: s.gid, mode: s.mode & 0o777 };
    };
    expect(st(w1!.dataDir)).toEqual({ uid: u1, gid: g1, mode: 0o700 });
    expect(st(path.join(w1!.dataDir, 'member', 'snap', 'db'))).toMatchObject({ uid: u1, gid: g1 });
    const [u2, g2] = owner2.split(':').map(Number);
    expect(st(w2!.dataDir)).toEqual({ uid: u2, gid: g2, mode: 0o700 });
    expect(st(w3!.dataDir)).toMatchObject({ uid: process.getuid!(), mode: 0o700 });
    // the old data dir is kept aside as it was
    expect(st(plan.newCluster.members[0]!.dataAside!)).toEqual({ uid: u1, gid: g1, mode: 0o755 });

    // one private upload per member, 0600, each gone now, and the journal says so
    expect(uploads).toHaveLength(3);
    expect(new Set(uploads.map((u) => u.file)).size).toBe(3);
    for (const u of uploads) {
      expect(u.file).toMatch(/^\/tmp\/dr-restore-[A-Za-z0-9]{10}\.db$/);
      expect(u.mode).toBe(0o600);
      expect(existsSync(u.file)).toBe(false);
    }
    const j = await readJournal(journalFile);
    const removed = j.steps.filter((s) => s.id.startsWith('restore:')).map((s) => s.detail?.uploadRemoved);
    expect(removed.sort()).toEqual(uploads.map((u) => u.file).sort());
    expect(j.steps.every((s) => s.detail?.uploaded === undefined)).toBe(true);
    // etcd itself is content with the restored dir (not a warning about its permissions)
    expect(execFileSync('cat', [`${w1!.dataDir}.log`]).toString()).not.toMatch(/permission denied/i);
  }, 180_000);
});
