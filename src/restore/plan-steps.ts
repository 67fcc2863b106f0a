/** The steps of a plan, in order, each with its commands and rollback (pure). */
import type { Manifest } from '../manifest/manifest.js';
import type { MembersFile } from '../config/members-file.js';
import { controlCommands, hostCmd } from './plan-commands.js';
import type { PlannedMember, PlanStep } from './plan-types.js';
import { shellLine } from './shell-line.js';
import { clientTlsFor } from './client-tls.js';
import { restoreArgv } from './restore-argv.js';

export function stagingDir(dir: string): string {
  return `${dir}.dr-restoring`;
}

export function buildSteps(
  target: MembersFile,
  planned: PlannedMember[],
  ctx: {
    token: string;
    initialCluster: string;
    snapshotFile: string;
    quorum: number;
    backup: Manifest;
    /** --bump-revision N --mark-compacted on every member's restore (plan-bump.ts) */
    bumpRevision?: number;
  },
): PlanStep[] {
  const steps: PlanStep[] = [];
  const etcd = {
    token: ctx.token,
    initialCluster: ctx.initialCluster,
    timing: target.timing,
    etcdBinary: target.binaries.etcd,
  };
  const byName = new Map(target.members.map((m) => [m.name, m]));
  steps.push({
    id: 'fetch',
    kind: 'fetch',
    description: `fetch backup ${ctx.backup.id} once and verify its sha256 ${ctx.backup.snapshot.sha256}`,
    commands: [`dr fetch ${ctx.backup.id} --out ${ctx.snapshotFile}`, `sha256sum ${ctx.snapshotFile}`],
    rollback: `nothing on the cluster has changed; remove ${ctx.snapshotFile} if you like`,
    params: { file: ctx.snapshotFile, sha256: ctx.backup.snapshot.sha256, size: ctx.backup.snapshot.size },
  });
  for (const p of planned) {
    const m = byName.get(p.name)!;
    steps.push({
      id: `stop:${p.name}`,
      kind: 'stop',
      member: p.name,
      description: `stop member ${p.name} (${m.control.type})`,
      commands: controlCommands(m, 'stop', etcd),
      rollback: `start ${p.name} again: ${controlCommands(m, 'start', etcd).join(' && ')}`,
      parallelGroup: 'stop',
      params: {},
    });
  }
  for (const p of planned) {
    const m = byName.get(p.name)!;
    const moves: [string, string][] = [];
    if (p.dataAside) moves.push([p.dataDir, p.dataAside]);
    if (p.walDir && p.walAside) moves.push([p.walDir, p.walAside]);
    if (moves.length === 0) continue;
    steps.push({
      id: `move-aside:${p.name}`,
      kind: 'move-aside',
      member: p.name,
      description: `move the old data of ${p.name} aside (kept, never deleted): ${moves.map(([a, b]) => `${a} -> ${b}`).join(', ')}`,
      commands: moves.map(([a, b]) => hostCmd(m, shellLine(['mv', '-T', a, b]))),
      rollback: moves.map(([a, b]) => hostCmd(m, shellLine(['mv', '-T', b, a]))).join(' && '),
      params: { moves },
    });
  }
  for (const p of planned) {
    const m = byName.get(p.name)!;
    const tool = {
      kind: p.tool?.kind === 'etcdutl' ? ('etcdutl' as const) : ('etcdctl' as const),
      command: p.tool?.kind ?? 'etcdctl',
    };
    // dr's fetch checks the file against etcd's trailer and the manifest's sha256 where this host reads
    // it; a member reached over ssh gets an uploaded copy, which its restore tool checks itself
    const skipHashCheck = !(
      (m.control.type === 'systemd' || m.control.type === 'static-pod') &&
      m.control.ssh
    );
    const argv = restoreArgv(tool, {
      skipHashCheck,
      snapshotFile: ctx.snapshotFile,
      name: p.name,
      initialCluster: ctx.initialCluster,
      token: ctx.token,
      peerURLs: p.peerURLs,
      dataDir: stagingDir(p.dataDir),
      walDir: p.walDir ? stagingDir(p.walDir) : undefined,
      bumpRevision: ctx.bumpRevision,
    });
    const renames = [
      [stagingDir(p.dataDir), p.dataDir],
      ...(p.walDir ? [[stagingDir(p.walDir), p.walDir]] : []),
    ] as [string, string][];
    const env = tool.kind === 'etcdctl' ? 'ETCDCTL_API=3 ' : '';
    const owners = [p.owner, ...(p.walDir ? [p.walOwner] : [])];
    steps.push({
      id: `restore:${p.name}`,
      kind: 'restore',
      member: p.name,
      description: `write ${p.name}'s new data dir ${p.dataDir}${p.walDir ? ` (WAL ${p.walDir})` : ''} with ${p.tool ? `${p.tool.kind} ${p.tool.version}` : 'etcd restore tool'} (member ID ${p.memberId})`,
      commands: [
        hostCmd(m, env + shellLine(argv)),
        ...renames.map(([a], i) => {
          const o = owners[i];
          return hostCmd(
            m,
            (o ? `${shellLine(['chown', '-R', o, a])} && ` : '') + shellLine(['chmod', '700', a]),
          );
        }),
        ...renames.map(([a, b]) => hostCmd(m, shellLine(['mv', '-T', a, b]))),
      ],
      rollback: `move the restored ${p.dataDir}${p.walDir ? ` and ${p.walDir}` : ''} away (it holds only restored data), then undo the move-aside`,
      parallelGroup: 'restore',
      params: { renames, owners, skipHashCheck, bumpRevision: ctx.bumpRevision ?? null },
    });
  }
  // beside etcd's restore tool (a worker thread at nice 19: it takes the CPU the tool leaves while it
  // copies and syncs, and is done before the members start loading their dbs; beside the quorum wait it
  // slowed the members' start: a 1-member drill took 0.89x and 0.94x the time this way, a 3-member restore
  // the same, docs/benchmarks.md "Drill, session 12"): the HashKV every restored member must answer,
  // computed from the snapshot file itself. A bumped store answers HashKV at the bumped revision,
  // compacted there, which no hash of the snapshot can predict: no step then.
  if (ctx.bumpRevision === undefined)
    steps.push({
      id: 'hash-offline',
      kind: 'hash-offline',
      description: `compute HashKV at revision ${ctx.backup.snapshot.revision} from the snapshot file, offline: the value every restored member must answer`,
      commands: [
        `# dr reads ${ctx.snapshotFile} (the key bucket up to revision ${ctx.backup.snapshot.revision})`,
      ],
      rollback: 'nothing to undo: it only reads the snapshot file',
      parallelGroup: 'restore',
      params: {},
    });
  const startStep = (p: PlannedMember): PlanStep => {
    const m = byName.get(p.name)!;
    return {
      id: `start:${p.name}`,
      kind: 'start',
      member: p.name,
      description: `start ${p.name} on its restored data (${m.clientURLs.join(',')})`,
      commands: controlCommands(m, 'start', etcd),
      rollback: `stop ${p.name}: ${controlCommands(m, 'stop', etcd).join(' && ')}`,
      params: {},
    };
  };
  // Every member is started, one after the other in plan order, before the first wait: a restored member
  // spends seconds loading its db before it can vote, and the members load in parallel (waiting for a
  // leader among the first quorum before starting the rest made a restore slower: docs/benchmarks.md).
  planned.forEach((p) => steps.push(startStep(p)));
  const all = planned.map((p) => p.clientURLs[0]).join(',');
  // what dr's own probe presents, as etcdctl flags: the checks can be copied and run as they are
  const tls = clientTlsFor(target);
  const etcdctl = (...args: string[]) =>
    'ETCDCTL_API=3 ' +
    shellLine([
      target.binaries.etcdctl ?? 'etcdctl',
      '--endpoints',
      all,
      ...(tls?.caFile ? ['--cacert', tls.caFile] : []),
      ...(tls?.certFile ? ['--cert', tls.certFile] : []),
      ...(tls?.keyFile ? ['--key', tls.keyFile] : []),
      ...args,
    ]);
  steps.push({
    id: 'wait-quorum',
    kind: 'wait-quorum',
    description: `wait until a quorum (${ctx.quorum} of ${planned.length} members) agrees on one leader`,
    commands: [etcdctl('endpoint', 'status', '-w', 'table')],
    rollback: 'stop the started members',
    params: { members: planned.map((p) => p.name) },
  });
  steps.push({
    id: 'wait-all',
    kind: 'wait-all',
    description: 'wait until every member has joined and caught up with the leader (applied index)',
    commands: [etcdctl('endpoint', 'status', '-w', 'table')],
    rollback: 'stop every member',
    params: {},
  });
  steps.push({
    id: 'verify',
    kind: 'verify',
    description: 'verify the restored cluster against the backup (the checks below)',
    commands: [
      etcdctl('endpoint', 'hashkv', '--rev', ctx.backup.snapshot.revision),
      etcdctl('member', 'list', '-w', 'table'),
    ],
    rollback: 'nothing to undo: verification only reads',
    params: {},
  });
  return steps;
}
