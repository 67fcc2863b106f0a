/**
 * `dr restore --to new-cluster` through the built CLI, from a backup `dr backup` stored in file://
 * storage (not a plain snapshot file), on three `local` members (dr starts them detached, pid file
 * `<dataDir>.pid`):
 *  1. the disaster: members killed, data dirs deleted; --dry-run --json shows the plan (new cluster and
 *     member IDs, steps), --yes --json restores it: every key, the revision, a new cluster ID, HashKV
 *     equal on every member;
 *  2. the refusal: restoring onto the (now healthy) cluster without --force is exit 2 RESTORE_REFUSED
 *     and changes nothing;
 *  3. the crash: an in-place restore with --force (old data dirs moved aside) is killed -9 after the
 *     second member's data dir is written; `dr restore --resume JOURNAL` completes it, and the
 *     moved-aside data dirs are still there.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitHealthy } from '../../src/etcd/member-process.js';
import { localControl, pidFile } from '../../src/restore/control/local.js';
import { parseMembersYaml, type MembersFile } from '../../src/config/members-file.js';
import { runDr, spawnDr } from '../helpers/dr.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

const execFileAsync = promisify(execFile);

async function etcdctl(endpoints: string[], ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('etcdctl', ['--endpoints', endpoints.join(','), ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

/** cluster ID (hex, as dr prints it) and revision, as the member at endpoint reports them */
async function statusOf(endpoint: string): Promise<{ clusterId: string; revision: string }> {
  const out = await etcdctl([endpoint], 'endpoint', 'status', '-w', 'json');
  return {
    clusterId: BigInt(/"cluster_id":(\d+)/.exec(out)![1]!).toString(16),
    revision: /"revision":(\d+)/.exec(out)![1]!,
  };
}

/** every key and value, in key order (the text etcdctl prints) */
async function everything(endpoints: string[]): Promise<string> {
  return etcdctl(endpoints, 'get', '--prefix', '');
}

describe('dr restore --to new-cluster through the CLI (3 local members, file:// backup)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let target: MembersFile;
  let membersFile: string;
  let eps: string[];
  let env: Record<string, string>;
  let backup: { id: string; snapshot: { revision: string; sha256: string }; source: { clusterId: string } };
  let before: string;
  let oldClusterId: string;
  let firstRestoreClusterId: string;

  /** kill -9 by pid file: what a lost machine looks like */
  async function killAll(): Promise<void> {
    for (const m of target.members) {
      const pid = Number((await readFile(pidFile(m.dataDir), 'utf8').catch(() => '')).trim());
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        continue;
      }
      // gone, or a zombie nobody has reaped yet: either way it no longer holds its ports and files
      const running = async () =>
        !(await readFile(`/proc/${pid}/stat`, 'utf8').then(
          (s) => s.includes(') Z'),
          () => true,
        ));
      while (await running()) await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function asideDirs(): Promise<string[]> {
    return (await readdir(dir)).filter((f) => f.includes('.dr-aside-')).sort();
  }

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dr-cli-restore-'));
    const ports = await freePorts(6);
    const yaml = [
      '# three members dr runs itself',
      'members:',
      ...['n1', 'n2', 'n3'].flatMap((name, i) => [
        `  - name: ${name}`,
        `    peerURLs: [http://127.0.0.1:${ports[2 * i + 1]}]`,
        `    clientURLs: [http://127.0.0.1:${ports[2 * i]}]`,
        `    dataDir: ${path.join(dir, name)}`,
        '    control: { type: local }',
      ]),
      '',
    ].join('\n');
    membersFile = path.join(dir, 'members.yaml');
    await writeFile(membersFile, yaml);
    target = parseMembersYaml(yaml);
    eps = target.members.map((m) => m.clientURLs[0]!);
    env = {
      DR_STORAGE: `file://${path.join(dir, 'store')}`,
      DR_CATALOG: path.join(dir, 'state', 'catalog.sqlite'),
    };

    // the old cluster, on the same members (started the way dr starts local members)
    const initialCluster = target.members.map((m) => `${m.name}=${m.peerURLs[0]}`).join(',');
    await Promise.all(
      target.members.map((m) => localControl({ member: m, initialCluster, token: 'old-token' }).start()),
    );
    await Promise.all(eps.map((e) => waitHealthy(e, { timeoutMs: 60_000 })));
    for (let i = 0; i < 30; i++)
      await etcdctl(eps, 'put', `/registry/secrets/ns/s-${String(i).padStart(2, '0')}`, `value-${i}`);
    await etcdctl(eps, 'put', '/registry/secrets/ns/s-05', 'updated');
    await etcdctl(eps, 'del', '/registry/secrets/ns/s-07');
    oldClusterId = (await statusOf(eps[0]!)).clusterId;
    before = await everything(eps);
    const r = await runDr(['backup', '--endpoints', eps.join(','), '--cluster-name', 'prod', '--json'], env);
    expect(r.code).toBe(0);
    backup = r.json;
    expect(backup.source.clusterId).toBe(oldClusterId);
    expect(backup.snapshot.revision).toBe((await statusOf(eps[0]!)).revision);
  }, 90_000);

  afterAll(async () => {
    // leave no member running: dr started them detached
    await Promise.all(
      (target?.members ?? []).map((m) =>
        localControl({ member: m, initialCluster: '', token: '', stopGraceMs: 3000 })
          .stop()
          .catch(() => {}),
      ),
    );
    await cleanup?.();
  });

  it('after the disaster: --dry-run shows the plan, --yes restores every key under a new cluster ID', async () => {
    await killAll();
    await Promise.all(target.members.map((m) => rm(m.dataDir, { recursive: true, force: true })));

    const args = [
      'restore',
      '--to',
      'new-cluster',
      '--backup',
      'latest',
      '--members',
      membersFile,
      '--token',
      'cli-restore-1',
    ];
    const dry = await runDr([...args, '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    const plan = dry.json;
    expect(plan.refusals).toEqual([]);
    expect(plan.backup.id).toBe(backup.id);
    expect(plan.backup.revision).toBe(backup.snapshot.revision);
    expect(plan.backup.sha256).toBe(backup.snapshot.sha256);
    expect(plan.backup.oldClusterId).toBe(oldClusterId);
    expect(plan.newCluster.token).toBe('cli-restore-1');
    expect(plan.newCluster.clusterId).toMatch(/^[0-9a-f]+$/);
    expect(plan.newCluster.clusterId).not.toBe(oldClusterId);
    const ids = plan.newCluster.members.map((m: { memberId: string }) => m.memberId);
    expect(new Set(ids).size).toBe(3);
    expect(plan.newCluster.members.map((m: { dataAside: string | null }) => m.dataAside)).toEqual([
      null,
      null,
      null,
    ]);
    expect(plan.steps.map((s: { id: string }) => s.id)).toEqual([
      'fetch',
      'stop:n1',
      'stop:n2',
      'stop:n3',
      'restore:n1',
      'restore:n2',
      'restore:n3',
      'hash-offline',
      'start:n1',
      'start:n2',
      'start:n3',
      'wait-quorum',
      'wait-all',
      'verify',
    ]);
    expect(plan.steps.every((s: { rollback: string }) => s.rollback.length > 0)).toBe(true);
    const human = await runDr([...args, '--dry-run'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(plan.newCluster.clusterId);
    for (const id of ids) expect(human.stdout).toContain(id);
    // a dry run changes nothing
    expect(target.members.filter((m) => existsSync(m.dataDir))).toEqual([]);

    const journal = path.join(dir, 'restore-1.journal.json');
    const r = await runDr([...args, '--yes', '--json', '--journal', journal], {
      ...env,
      DR_LOG_LEVEL: 'info',
    });
    expect(r.code).toBe(0);
    // the scratch copy goes as soon as the restore tool and the offline hash are done with it (the hash
    // runs beside the restore tool), before the wait for every member (not when the whole restore ends)
    const logged = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; step?: string; state?: string });
    const removedAt = logged.findIndex((l) => /removing the scratch copy of the snapshot/.test(l.msg));
    const quorumAt = logged.findIndex((l) => l.step === 'wait-all' && l.state === 'running');
    expect(removedAt).toBeGreaterThan(
      logged.findIndex((l) => l.step === 'hash-offline' && l.state === 'done'),
    );
    expect(removedAt).toBeLessThan(quorumAt);
    const v = r.json.verification;
    expect(r.json.ok).toBe(true);
    expect(v.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(v.clusterId).toBe(plan.newCluster.clusterId); // the ID computed in advance is the real one
    expect(v.revision).toBe(backup.snapshot.revision);
    expect(Object.keys(v.hashKV)).toHaveLength(3);
    expect(new Set(Object.values(v.hashKV)).size).toBe(1);

    const status = await statusOf(eps[1]!);
    expect(status.clusterId).toBe(plan.newCluster.clusterId);
    expect(status.clusterId).not.toBe(oldClusterId);
    expect(status.revision).toBe(backup.snapshot.revision);
    expect(await everything(eps)).toBe(before);
    firstRestoreClusterId = status.clusterId;
    const done = JSON.parse(await readFile(journal, 'utf8')) as {
      status: string;
      snapshotFile: string;
      offlineHashKV: { hash: number };
    };
    expect(done.status).toBe('done');
    // the backup's HashKV, computed on the worker thread of the built CLI, is what every member answers
    expect(new Set(Object.values(v.hashKV))).toEqual(new Set([done.offlineHashKV.hash]));
    // dr's scratch copy of the snapshot is removed once the restore is done; the journal stays
    expect(existsSync(done.snapshotFile)).toBe(false);
  }, 60_000);

  it('bad input: exit 2 with the reason, before anything is touched', async () => {
    const base = ['restore', '--to', 'new-cluster', '--members', membersFile];
    const early = await runDr([...base, '--before', '2000-01-01T00:00:00Z', '--dry-run', '--json'], env);
    expect(early.code).toBe(2);
    expect(early.json.error.code).toBe('BACKUP_NOT_FOUND');
    const noMembers = await runDr(['restore', '--to', 'new-cluster', '--backup', 'latest', '--json'], env);
    expect(noMembers.code).toBe(2);
    expect(noMembers.json.error.message).toMatch(/--members/);
    const bad = path.join(dir, 'bad-members.yaml');
    await writeFile(
      bad,
      (await readFile(membersFile, 'utf8')).replace(/dataDir: .*n2$/m, 'dataDir: relative/n2'),
    );
    const r = await runDr(
      ['restore', '--to', 'new-cluster', '--backup', 'latest', '--members', bad, '--yes', '--json'],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('CONFIG_INVALID');
    expect(r.json.error.message).toMatch(
      /member "n2" \(members\[1\]\) field dataDir: must be an absolute path/,
    );
    expect(await asideDirs()).toEqual([]);
    expect((await statusOf(eps[0]!)).clusterId).toBe(firstRestoreClusterId);
  }, 30_000);

  it('onto a healthy running cluster without --force: exit 2 RESTORE_REFUSED, nothing changed', async () => {
    const journal = path.join(dir, 'refused.journal.json');
    const args = ['restore', '--to', 'new-cluster', '--backup', 'latest', '--members', membersFile];
    const dry = await runDr([...args, '--dry-run', '--json'], env);
    expect(dry.code).toBe(2);
    expect(dry.json.refusals.map((x: { code: string; forceable: boolean }) => [x.code, x.forceable])).toEqual(
      [['OLD_CLUSTER_HEALTHY', true]],
    );
    const r = await runDr([...args, '--yes', '--json', '--journal', journal], env);
    expect(r.code).toBe(2);
    expect(r.json.error.code).toBe('RESTORE_REFUSED');
    expect(r.json.error.message).toMatch(/healthy/);
    const human = await runDr([...args, '--yes'], env);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/RESTORE_REFUSED.*--force|--force.*RESTORE_REFUSED/s);
    // nothing changed: no journal, nothing moved aside, the same cluster still serving
    expect(existsSync(journal)).toBe(false);
    expect(await asideDirs()).toEqual([]);
    expect((await statusOf(eps[0]!)).clusterId).toBe(firstRestoreClusterId);
    expect(await everything(eps)).toBe(before);
  }, 120_000);

  it('in place with --force, killed -9 after the second data dir is written, completed by --resume', async () => {
    await etcdctl(eps, 'put', '/registry/lost/after-backup', 'x'); // not in the backup: must be gone after
    const journal = path.join(dir, 'restore-2.journal.json');
    const child = spawnDr(
      [
        'restore',
        '--to',
        'new-cluster',
        '--backup',
        'latest',
        '--members',
        membersFile,
        '--force',
        '--yes',
        '--json',
        '--journal',
        journal,
      ],
      env,
    );
    let exited = false;
    const closed = new Promise<void>((resolve) =>
      child.on('close', () => {
        exited = true;
        resolve();
      }),
    );
    // a member's data dir is written when both its moved-aside dir and a new data dir exist
    const restored = async () => {
      const aside = await asideDirs();
      return target.members.filter(
        (m) =>
          existsSync(m.dataDir) && aside.some((a) => a.startsWith(`${path.basename(m.dataDir)}.dr-aside-`)),
      ).length;
    };
    const deadline = Date.now() + 45_000;
    while ((await restored()) < 2) {
      if (exited) throw new Error('dr restore finished before it could be killed');
      if (Date.now() > deadline) throw new Error('no data dir was restored in time');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await closed;
    expect(child.signalCode).toBe('SIGKILL');
    const torn = JSON.parse(await readFile(journal, 'utf8'));
    expect(torn.status).toBe('running');

    const r = await runDr(['restore', '--resume', journal, '--json'], env);
    expect(r.code, `dr restore --resume: ${r.stderr}\n${r.stdout}`).toBe(0);
    expect(r.json.ok).toBe(true);
    const v = r.json.verification;
    expect(v.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(r.json.skipped).toEqual(expect.arrayContaining(['fetch', 'stop:n1', 'stop:n2', 'stop:n3']));
    expect(r.json.skipped).not.toContain('wait-all'); // the resumed run did the rest itself
    expect(v.clusterId).toBe(r.json.plan.newCluster.clusterId);
    expect(v.clusterId).not.toBe(firstRestoreClusterId);
    expect(v.revision).toBe(backup.snapshot.revision);
    expect(new Set(Object.values(v.hashKV)).size).toBe(1);
    expect(Object.keys(v.hashKV)).toHaveLength(3);
    expect((await statusOf(eps[2]!)).clusterId).toBe(v.clusterId);
    expect(await everything(eps)).toBe(before); // the key written after the backup is gone
    // the old data dirs were moved aside, never deleted, and are whole
    const aside = await asideDirs();
    expect(aside.map((a) => a.replace(/\.dr-aside-.*$/, ''))).toEqual(['n1', 'n2', 'n3']);
    for (const a of aside) expect(await readdir(path.join(dir, a))).toEqual(['member']);
    expect(
      r.json.plan.newCluster.members.map((m: { dataAside: string }) => path.basename(m.dataAside)).sort(),
    ).toEqual(aside);
    expect(JSON.parse(await readFile(journal, 'utf8')).status).toBe('done');
  }, 80_000);
});
