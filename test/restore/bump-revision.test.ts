/**
 * `--bump-revision N --mark-compacted` (Kubernetes after a restore): the plan says why and by how much and
 * refuses a restore tool that cannot bump; a real restore with the etcd under test either bumps (3.5's
 * etcdutl: the revision is the backup's + N, older revisions are compacted, HashKV agrees between members)
 * or is refused before anything changes (3.4's etcdctl 3.4.23 has no such flags).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { executeRestore } from '../../src/restore/execute.js';
import { parseMembers, type MembersFile } from '../../src/config/members-file.js';
import { planRestore, type MemberFacts, type RestoreFacts } from '../../src/restore/plan.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { renderPlan } from '../../src/restore/render-plan.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';
import { tempDir } from '../helpers/tmp.js';
import { clusterIdOf, etcdctl, localTarget, manifestFor, stopLocal } from './helpers.js';

const BUMP = 1_000_000_000;

describe('planRestore with a revision bump (pure)', () => {
  const backup = {
    id: '20240301T020000Z-0badf00d',
    clusterName: 'k8s',
    createdAt: '2024-03-01T02:00:00.000Z',
    source: { clusterId: 'abc123', etcdVersion: '3.5.16' },
    snapshot: {
      revision: '1234',
      totalKeys: 9,
      liveKeys: 5,
      sha256: 'f'.repeat(64),
      size: 1032,
      dbSize: 1000,
    },
  } as unknown as Manifest;
  const target = parseMembers({
    members: ['a', 'b'].map((n, i) => ({
      name: n,
      peerURLs: [`http://10.0.0.${i + 1}:2380`],
      clientURLs: [`http://10.0.0.${i + 1}:2379`],
      dataDir: `/var/lib/etcd/${n}`,
      control: { type: 'local' },
    })),
  });
  const facts = (supports: Record<string, boolean>): RestoreFacts => {
    const members: Record<string, MemberFacts> = {};
    for (const m of target.members) {
      members[m.name] = {
        dataDir: { path: m.dataDir, state: 'missing', mountPoint: false, entries: [], looksLikeEtcd: false },
        dataFreeBytes: 10e9,
        control: { ok: true, detail: 'ok' },
        tool: {
          kind: supports[m.name] ? 'etcdutl' : 'etcdctl',
          command: 'x',
          version: supports[m.name] ? '3.5.16' : '3.4.23',
          supportsBumpRevision: supports[m.name]!,
        },
      } as MemberFacts;
    }
    return { members, oldCluster: { endpoints: [], healthy: [] } };
  };
  const now = new Date('2024-03-01T03:00:00.000Z');

  it('says why and by how much, and passes the flags to every member restore', () => {
    const plan = planRestore({
      backup,
      target,
      token: 't',
      now,
      facts: facts({ a: true, b: true }),
      bumpRevision: BUMP,
    });
    expect(plan.refusals).toEqual([]);
    expect(plan.bump).toMatchObject({
      revision: BUMP,
      markCompacted: true,
      fromRevision: '1234',
      toRevision: '1000001234',
    });
    expect(plan.bump!.why).toContain('relist');
    // the bumped store answers HashKV at the bumped revision: no offline hash of the snapshot is computed
    expect(plan.steps.map((x) => x.kind)).not.toContain('hash-offline');
    for (const s of plan.steps.filter((x) => x.kind === 'restore')) {
      expect(s.commands[0]).toContain(`--bump-revision ${BUMP} --mark-compacted`);
      expect(s.params.bumpRevision).toBe(BUMP);
    }
    expect(plan.checks.join('\n')).toContain(
      "revision is 1000001234 (the backup's 1234 bumped by 1000000000, compacted there)",
    );
    expect(plan.warnings).toEqual([]);
    expect(renderPlan(plan)).toContain(
      `Bump       revision +${BUMP} (--bump-revision ${BUMP} --mark-compacted)`,
    );
  });

  it('refuses a member whose restore tool cannot bump, naming the tool and the versions that can', () => {
    const plan = planRestore({
      backup,
      target,
      token: 't',
      now,
      facts: facts({ a: true, b: false }),
      bumpRevision: BUMP,
    });
    expect(plan.refusals).toEqual([
      {
        code: 'BUMP_UNSUPPORTED',
        member: 'b',
        message: expect.stringMatching(
          /^member "b": etcdctl 3\.4\.23 cannot --bump-revision\/--mark-compacted \(etcdutl 3\.5\.10\+/,
        ),
        forceable: false,
      },
    ]);
    // --force does not lift it
    expect(
      planRestore({
        backup,
        target,
        token: 't',
        now,
        facts: facts({ a: false, b: false }),
        bumpRevision: BUMP,
        force: true,
      }).refusals,
    ).toHaveLength(2);
  });

  it('warns about a bump below what etcd maintainers suggest; no bump, no flags', () => {
    const small = planRestore({
      backup,
      target,
      token: 't',
      now,
      facts: facts({ a: true, b: true }),
      bumpRevision: 1000,
    });
    expect(small.warnings.join('\n')).toContain('--bump-revision 1000 is below the 1000000000');
    const none = planRestore({ backup, target, token: 't', now, facts: facts({ a: true, b: true }) });
    expect(none.bump).toBeNull();
    expect(none.steps.find((s) => s.kind === 'restore')!.commands[0]).not.toContain('--bump-revision');
  });
});

describe('restore with --bump-revision on real etcd', () => {
  let old: TestCluster;
  let work: { dir: string; cleanup: () => Promise<void> };
  let target: MembersFile | undefined;
  let manifest: Manifest;
  let snapshot: string;

  beforeAll(async () => {
    work = await tempDir('dr-bump-');
    old = await startTestCluster({ size: 1 });
    for (let i = 0; i < 10; i++) etcdctl(old.endpoints, 'put', `/registry/pods/p${i}`, `v${i}`);
    snapshot = path.join(work.dir, 'snap.db');
    etcdctl(old.endpoints, 'snapshot', 'save', snapshot);
    manifest = manifestFor(snapshot, { clusterId: clusterIdOf(old.endpoints[0]!), liveKeys: 10 });
    await old.kill(0);
  });
  afterAll(async () => {
    await stopLocal(target);
    await old?.stop();
    await work?.cleanup();
  });

  it(
    etcdAtLeast(3, 5)
      ? 'bumps the revision and compacts there (etcdutl 3.5.10+)'
      : 'is refused before anything changes (etcdctl 3.4.23 cannot bump)',
    async () => {
      target = await localTarget(work.dir, ['k1', 'k2']);
      const plan = await prepareRestore({
        manifest,
        target,
        now: new Date(),
        snapshotFile: snapshot,
        bumpRevision: BUMP,
      });
      const backupRev = BigInt(manifest.snapshot.revision);
      if (!etcdAtLeast(3, 5)) {
        expect(plan.refusals.map((r) => r.code)).toEqual(['BUMP_UNSUPPORTED', 'BUMP_UNSUPPORTED']);
        expect(plan.refusals[0]!.message).toContain('etcdctl 3.4');
        await expect(
          executeRestore(plan, {
            manifest,
            source: { file: snapshot },
            journalFile: path.join(work.dir, 'j.json'),
          }),
        ).rejects.toMatchObject({ code: 'RESTORE_REFUSED' });
        return;
      }
      expect(plan.refusals).toEqual([]);
      expect(plan.newCluster.members.every((m) => m.tool?.kind === 'etcdutl')).toBe(true);
      const r = await executeRestore(plan, {
        manifest,
        source: { file: snapshot },
        journalFile: path.join(work.dir, 'restore.journal.json'),
      });
      expect(r.ok).toBe(true);
      expect(r.verification.revision).toBe((backupRev + BigInt(BUMP)).toString());
      expect(r.verification.keyCount).toBe(10);
      const eps = target.members.map((m) => m.clientURLs[0]!);
      // every key came back, and a read at a revision of the old cluster is refused as compacted
      expect(etcdctl(eps, 'get', '/registry/pods/p3', '--print-value-only').trim()).toBe('v3');
      expect(() => etcdctl([eps[0]!], 'get', '/registry/pods/p3', '--rev', String(backupRev))).toThrow(
        /compacted/,
      );
      // new writes continue above the bump
      etcdctl(eps, 'put', '/registry/pods/new', 'x');
      const out = etcdctl([eps[0]!], 'get', '/registry/pods/new', '-w', 'json');
      expect(BigInt(/"mod_revision":(\d+)/.exec(out)![1]!)).toBe(backupRev + BigInt(BUMP) + 1n);
    },
  );

  it('dr restore: --bump-revision and --mark-compacted go together', async () => {
    const r = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--backup',
      'latest',
      '--members',
      '/nonexistent.yaml',
      '--storage',
      `file://${work.dir}/store`,
      '--bump-revision',
      '1000000000',
      '--dry-run',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bump-revision N and --mark-compacted go together');
    const bad = await runDr([
      'restore',
      '--to',
      'new-cluster',
      '--backup',
      'latest',
      '--members',
      '/nonexistent.yaml',
      '--storage',
      `file://${work.dir}/store`,
      '--bump-revision',
      '1e9',
      '--mark-compacted',
      '--dry-run',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--bump-revision "1e9" is not a positive integer');
  });
});
