import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { clusterId, formatId, memberId } from '../../src/restore/ids.js';
import { parseMembers } from '../../src/config/members-file.js';
import { defaultToken, planRestore, type MemberFacts, type RestoreFacts } from '../../src/restore/plan.js';
import { renderPlan } from '../../src/restore/render-plan.js';

const manifest = {
  id: '20240301T020000Z-0badf00d',
  clusterName: 'prod',
  createdAt: '2024-03-01T02:00:00.000Z',
  source: { clusterId: 'abc123', etcdVersion: '3.4.23' },
  snapshot: { revision: '1234', totalKeys: 99, sha256: 'f'.repeat(64), size: 2_000_032, dbSize: 2_000_000 },
} as unknown as Manifest;

const target = parseMembers({
  members: ['a', 'b', 'c'].map((n, i) => ({
    name: n,
    peerURLs: [`http://10.0.0.${i + 1}:2380`],
    clientURLs: [`http://10.0.0.${i + 1}:2379`],
    dataDir: `/var/lib/etcd/${n}`,
    control:
      i === 1 ? { type: 'systemd', unit: 'etcd.service', ssh: 'ssh root@10.0.0.2' } : { type: 'local' },
  })),
});

const tool = { kind: 'etcdctl' as const, command: 'etcdctl', version: '3.4.23', supportsBumpRevision: false };
function facts(
  over: Partial<Record<string, Partial<MemberFacts>>> = {},
  healthy: string[] = [],
): RestoreFacts {
  const members: Record<string, MemberFacts> = {};
  for (const m of target.members) {
    members[m.name] = {
      dataDir: {
        path: m.dataDir,
        state: 'non-empty',
        mountPoint: false,
        entries: ['member'],
        looksLikeEtcd: true,
      },
      dataFreeBytes: 10e9,
      control: { ok: true, detail: 'ok' },
      tool,
      ...over[m.name],
    };
  }
  return { members, oldCluster: { endpoints: ['http://10.0.0.1:2379'], healthy } };
}
const now = new Date('2024-03-01T05:00:00.000Z');

describe('planRestore (pure)', () => {
  it('computes the new identity in advance and lays out the steps with rollbacks', () => {
    const plan = planRestore({ backup: manifest, target, token: 'tok-1', now, facts: facts() });
    expect(plan.refusals).toEqual([]);
    const ids = target.members.map((m) => memberId(m.peerURLs, 'tok-1'));
    expect(plan.newCluster.members.map((m) => m.memberId)).toEqual(ids.map(formatId));
    expect(plan.newCluster.clusterId).toBe(formatId(clusterId(ids)));
    expect(plan.newCluster.initialCluster).toBe(
      'a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380',
    );
    expect(plan.backup).toMatchObject({
      id: manifest.id,
      revision: '1234',
      ageSeconds: 3 * 3600,
      sha256: 'f'.repeat(64),
    });
    expect(plan.newCluster.members[0]!.dataAside).toBe('/var/lib/etcd/a.dr-aside-20240301T050000Z');
    expect(plan.steps.every((s) => s.rollback.length > 0 && s.commands.length > 0)).toBe(true);
    const restoreB = plan.steps.find((s) => s.id === 'restore:b')!;
    expect(restoreB.commands[0]).toBe(
      "ssh root@10.0.0.2 'ETCDCTL_API=3 etcdctl snapshot restore ./20240301T020000Z-0badf00d.db --name b --initial-cluster " +
        'a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380 --initial-cluster-token tok-1 ' +
        "--initial-advertise-peer-urls http://10.0.0.2:2380 --data-dir /var/lib/etcd/b.dr-restoring'",
    );
    // a member restored over ssh gets an uploaded copy: its tool checks the hash; a local one reads the
    // file dr's fetch step has just checked, so the tool's second check is left out
    expect(restoreB.commands[0]).not.toContain('--skip-hash-check');
    expect(plan.steps.find((s) => s.id === 'restore:a')!.commands[0]).toContain('--skip-hash-check');
    expect(plan.steps.find((s) => s.id === 'start:b')!.commands[0]).toBe(
      "ssh root@10.0.0.2 'systemctl start --no-block etcd.service'",
    );
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan); // plain JSON
    const text = renderPlan(plan);
    expect(text).toContain('Ready: run again with --yes');
    expect(text).toContain(plan.newCluster.clusterId);
  });

  it('is deterministic: same input, same plan', () => {
    const a = planRestore({ backup: manifest, target, token: 't', now, facts: facts() });
    const b = planRestore({ backup: manifest, target, token: 't', now, facts: facts() });
    expect(a).toEqual(b);
  });

  it('lists every refusal, not only the first', () => {
    const plan = planRestore({
      backup: manifest,
      target,
      token: 't',
      now,
      facts: facts(
        {
          a: { dataDir: { path: '/var/lib/etcd/a', state: 'empty', mountPoint: true } },
          b: {
            control: { ok: false, detail: 'ssh: connection refused' },
            tool: null,
            toolError: 'no etcdctl on ssh root@10.0.0.2',
          },
          c: {
            dataFreeBytes: 1000,
            dataDir: {
              path: '/var/lib/etcd/c',
              state: 'non-empty',
              mountPoint: false,
              entries: ['member', 'notes.txt'],
              looksLikeEtcd: false,
            },
          },
        },
        ['http://10.0.0.1:2379'],
      ),
    });
    expect(plan.refusals.map((r) => `${r.code}:${r.member ?? ''}`).sort()).toEqual(
      [
        'CONTROL_UNREACHABLE:b',
        'DATA_DIR_MOUNT_POINT:a',
        'DATA_DIR_NOT_ETCD:c',
        'NO_DISK_SPACE:c',
        'NO_RESTORE_TOOL:b',
        'OLD_CLUSTER_HEALTHY:',
      ].sort(),
    );
    expect(renderPlan(plan)).toContain('REFUSED');
  });

  it('--force lifts only the healthy-cluster refusal', () => {
    const f = facts({ c: { dataFreeBytes: 1 } }, ['http://10.0.0.1:2379']);
    const plan = planRestore({ backup: manifest, target, token: 't', now, facts: f, force: true });
    expect(plan.refusals.map((r) => r.code)).toEqual(['NO_DISK_SPACE']);
    expect(plan.warnings.join(' ')).toMatch(/--force/);
  });

  it('moves nothing for missing or empty data dirs, and starts a quorum before waiting', () => {
    const five = parseMembers({
      members: [1, 2, 3, 4, 5].map((i) => ({
        name: `m${i}`,
        peerURLs: [`http://127.0.0.1:${2380 + 10 * i}`],
        clientURLs: [`http://127.0.0.1:${2379 + 10 * i}`],
        dataDir: `/d/m${i}`,
        control: { type: 'local' },
      })),
    });
    const fs: RestoreFacts = { members: {}, oldCluster: { endpoints: [], healthy: [] } };
    for (const m of five.members) {
      fs.members[m.name] = {
        dataDir: {
          path: m.dataDir,
          state: m.name === 'm1' ? 'empty' : 'missing',
          mountPoint: false,
        } as never,
        dataFreeBytes: null,
        control: { ok: true, detail: '' },
        tool,
      };
    }
    const plan = planRestore({ backup: manifest, target: five, token: 't', now, facts: fs });
    expect(plan.steps.some((s) => s.kind === 'move-aside')).toBe(false);
    expect(
      plan.steps.filter((s) => s.kind === 'start' || s.kind.startsWith('wait')).map((s) => s.id),
    ).toEqual(['start:m1', 'start:m2', 'start:m3', 'start:m4', 'start:m5', 'wait-quorum', 'wait-all']);
  });

  it("ports held by the member's own etcd are fine (the stop step stops it); anything else refuses, a manual member warns", () => {
    const held = (pid: number) => ({
      ports: [{ port: 2379, url: 'http://10.0.0.1:2379', pids: [pid] }],
      dirPids: [{ dir: '/var/lib/etcd/a', pid }],
      ownPid: 4242,
    });
    const own = planRestore({
      backup: manifest,
      target,
      token: 't',
      now,
      facts: facts({ a: { inUse: held(4242) } }),
    });
    expect(own.refusals).toEqual([]);
    const other = planRestore({
      backup: manifest,
      target,
      token: 't',
      now,
      force: true,
      facts: facts({ a: { inUse: held(777) } }),
    });
    expect(other.refusals.map((r) => [r.code, r.member, r.forceable])).toEqual([
      ['TARGET_IN_USE', 'a', false],
      ['TARGET_IN_USE', 'a', false],
    ]);
    expect(other.refusals[0]!.message).toContain('port 2379 (http://10.0.0.1:2379) is in use by pid 777');
    // a listener dr cannot see the owner of is refused too
    const unseen = planRestore({
      backup: manifest,
      target,
      token: 't',
      now,
      facts: facts({
        a: {
          inUse: {
            ports: [{ port: 2379, url: 'http://10.0.0.1:2379', pids: [] }],
            dirPids: [],
            ownPid: null,
          },
        },
      }),
    });
    expect(unseen.refusals[0]!.message).toMatch(/in use \(by a process dr cannot see\)/);
    const manualTarget = parseMembers({
      members: target.members.map((m, i) => (i === 0 ? { ...m, control: { type: 'manual' } } : m)),
    });
    const manual = planRestore({
      backup: manifest,
      target: manualTarget,
      token: 't',
      now,
      facts: facts({ a: { inUse: held(777) } }),
    });
    expect(manual.refusals).toEqual([]);
    expect(manual.warnings.join('\n')).toMatch(/in use by pid 777 .*checked again then/);
  });

  it('an old endpoint that cannot be verified refuses (forceable); TLS problems refuse (not forceable)', () => {
    const f = facts({ b: { tlsProblems: ['member "b" tls: certificate /x.pem does not cover 10.0.0.2'] } });
    f.oldCluster.unverifiable = [{ endpoint: 'https://10.0.0.9:2379', error: 'ECONNRESET: socket hang up' }];
    const plan = planRestore({ backup: manifest, target, token: 't', now, facts: f });
    expect(plan.refusals.map((r) => [r.code, r.forceable])).toEqual([
      ['TLS_FILE_INVALID', false],
      ['OLD_CLUSTER_UNVERIFIABLE', true],
    ]);
    expect(plan.refusals[1]!.message).toContain(
      'https://10.0.0.9:2379 answers but its health cannot be verified (ECONNRESET',
    );
    const forced = planRestore({ backup: manifest, target, token: 't', now, facts: f, force: true });
    expect(forced.refusals.map((r) => r.code)).toEqual(['TLS_FILE_INVALID']);
  });

  it('default token: dr-<backup id>-<6 hex>', () => {
    expect(defaultToken('20240301T020000Z-0badf00d', Buffer.from([1, 2, 255]))).toBe(
      'dr-20240301T020000Z-0badf00d-0102ff',
    );
  });
});
