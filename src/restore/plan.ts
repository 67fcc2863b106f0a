/**
 * The restore planner: PURE. Everything it needs (the backup's manifest, the members file, the new token,
 * the time, and the facts observed on every member) is passed in; it returns a JSON plan a person can read
 * before anything changes: the backup, the new identity (cluster ID and member IDs, computed in advance),
 * every step with its exact command and its rollback, the checks after the restore, and the refusals that
 * stop it. An executor only runs a plan whose `refusals` is empty.
 */
import type { Manifest } from '../manifest/manifest.js';
import type { DirFact } from './host.js';
import { clusterId, formatId, memberId } from './ids.js';
import type { MembersFile, TargetMember } from './members-file.js';
import { restoreArgv, type RestoreTool } from './tool.js';

export const PLAN_FORMAT_VERSION = 1;

/** The WAL's first segment is preallocated to 64 MB; add a margin for the copy and the snap file. */
export const WAL_PREALLOC_BYTES = 64_000_000;
export const SPACE_MARGIN_BYTES = 32 * 1024 * 1024;

export interface MemberFacts {
  dataDir: DirFact;
  walDir?: DirFact;
  /** free bytes on the data dir's filesystem (null: unknown, not checked) */
  dataFreeBytes: number | null;
  walFreeBytes?: number | null;
  /** can dr stop and start this member by its control method */
  control: { ok: boolean; detail: string };
  /** the restore tool on the member's host; null when none was found */
  tool: RestoreTool | null;
  toolError?: string;
}

export interface OldClusterFacts {
  endpoints: string[];
  /** endpoints whose /health said true (a healthy member of a cluster with a leader) */
  healthy: string[];
  detail?: string;
}

export interface RestoreFacts {
  members: Record<string, MemberFacts>;
  oldCluster: OldClusterFacts;
}

export interface PlanInput {
  backup: Manifest;
  target: MembersFile;
  /** the new --initial-cluster-token (see defaultToken) */
  token: string;
  now: Date;
  facts: RestoreFacts;
  /** restore although the old cluster still answers healthy */
  force?: boolean;
  /** where the executor will put the fetched snapshot (shown in commands) */
  snapshotFile?: string;
}

export type StepKind =
  | 'fetch'
  | 'stop'
  | 'move-aside'
  | 'restore'
  | 'start'
  | 'hash-offline'
  | 'wait-quorum'
  | 'wait-all'
  | 'verify';

export interface PlanStep {
  /** stable id, the journal's key: "stop:etcd-a", "restore:etcd-a", "wait-quorum" */
  id: string;
  kind: StepKind;
  member?: string;
  description: string;
  /** the shell equivalent, for the operator and for manual mode */
  commands: string[];
  rollback: string;
  /** steps with the same group run in parallel */
  parallelGroup?: string;
  params: Record<string, unknown>;
}

export interface Refusal {
  code:
    | 'OLD_CLUSTER_HEALTHY'
    | 'DATA_DIR_NOT_ETCD'
    | 'DATA_DIR_NOT_A_DIRECTORY'
    | 'DATA_DIR_MOUNT_POINT'
    | 'NO_DISK_SPACE'
    | 'CONTROL_UNREACHABLE'
    | 'NO_RESTORE_TOOL'
    | 'TOKEN_INVALID';
  member?: string;
  message: string;
  /** --force lifts it */
  forceable: boolean;
}

export interface PlannedMember {
  name: string;
  memberId: string;
  peerURLs: string[];
  clientURLs: string[];
  dataDir: string;
  walDir: string | null;
  control: TargetMember['control']['type'];
  tool: { kind: string; version: string } | null;
  /** where the old data dir goes (null: nothing to move) */
  dataAside: string | null;
  walAside: string | null;
}

export interface RestorePlan {
  formatVersion: number;
  createdAt: string;
  backup: {
    id: string;
    clusterName: string;
    createdAt: string;
    ageSeconds: number;
    revision: string;
    totalKeys: number;
    sha256: string;
    size: number;
    etcdVersion: string;
    oldClusterId: string;
  };
  newCluster: {
    token: string;
    clusterId: string;
    initialCluster: string;
    members: PlannedMember[];
    /** how many members must be started before a leader can be elected */
    quorum: number;
  };
  oldCluster: OldClusterFacts;
  force: boolean;
  snapshotFile: string;
  steps: PlanStep[];
  /** what must be true before the restore is reported as done */
  checks: string[];
  refusals: Refusal[];
  warnings: string[];
  /** the members file the plan was made from: the journal needs nothing else to resume */
  target: MembersFile;
}

/** `dr-<backup id>-<6 hex>`: unique per attempt, so two restores of one backup never share member IDs. */
export function defaultToken(backupId: string, random: Buffer): string {
  return `dr-${backupId}-${random.subarray(0, 3).toString('hex')}`;
}

/** 20240131T235959Z: sortable, and safe in a path. */
export function compactTimestamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export function stagingDir(dir: string): string {
  return `${dir}.dr-restoring`;
}

export function planRestore(input: PlanInput): RestorePlan {
  const { backup, target, token, now, facts } = input;
  const force = input.force ?? false;
  const stamp = compactTimestamp(now);
  const snapshotFile = input.snapshotFile ?? `./${backup.id}.db`;
  const refusals: Refusal[] = [];
  const warnings: string[] = [];

  if (!/^[\x21-\x7e]+$/.test(token)) {
    refusals.push({
      code: 'TOKEN_INVALID',
      message: `cluster token ${JSON.stringify(token)} must be printable ASCII without spaces`,
      forceable: false,
    });
  }

  const ids = target.members.map((m) => memberId(m.peerURLs, token));
  const cid = clusterId(ids);
  const initialCluster = target.members.flatMap((m) => m.peerURLs.map((u) => `${m.name}=${u}`)).join(',');
  const quorum = Math.floor(target.members.length / 2) + 1;
  const needData = backup.snapshot.dbSize + SPACE_MARGIN_BYTES;

  const planned: PlannedMember[] = target.members.map((m, i) => {
    const f = facts.members[m.name];
    const dataAside = f ? asideFor(m, 'data', f.dataDir, stamp, refusals) : null;
    const walAside = f && m.walDir && f.walDir ? asideFor(m, 'wal', f.walDir, stamp, refusals) : null;
    if (!f) {
      refusals.push({
        code: 'CONTROL_UNREACHABLE',
        member: m.name,
        message: `member "${m.name}": nothing is known about it (facts missing)`,
        forceable: false,
      });
    } else {
      if (!f.control.ok) {
        refusals.push({
          code: 'CONTROL_UNREACHABLE',
          member: m.name,
          message: `member "${m.name}": cannot be controlled (${m.control.type}): ${f.control.detail}`,
          forceable: false,
        });
      }
      if (!f.tool) {
        refusals.push({
          code: 'NO_RESTORE_TOOL',
          member: m.name,
          message: f.toolError ?? `member "${m.name}": no etcdutl or etcdctl found`,
          forceable: false,
        });
      }
      const sameFs = !m.walDir;
      const need = needData + (sameFs ? WAL_PREALLOC_BYTES : 0);
      if (f.dataFreeBytes !== null && f.dataFreeBytes < need) {
        refusals.push({
          code: 'NO_DISK_SPACE',
          member: m.name,
          message: `member "${m.name}": ${m.dataDir} has ${mib(f.dataFreeBytes)} free, the restore needs ${mib(need)}`,
          forceable: false,
        });
      }
      if (m.walDir && f.walFreeBytes != null && f.walFreeBytes < WAL_PREALLOC_BYTES + SPACE_MARGIN_BYTES) {
        refusals.push({
          code: 'NO_DISK_SPACE',
          member: m.name,
          message: `member "${m.name}": ${m.walDir} has ${mib(f.walFreeBytes)} free, the WAL needs ${mib(WAL_PREALLOC_BYTES + SPACE_MARGIN_BYTES)}`,
          forceable: false,
        });
      }
      if (
        f.tool &&
        backup.source.etcdVersion &&
        majorMinor(f.tool.version) < majorMinor(backup.source.etcdVersion)
      ) {
        warnings.push(
          `member "${m.name}": restore tool ${f.tool.kind} ${f.tool.version} is older than the backup's etcd ${backup.source.etcdVersion}`,
        );
      }
    }
    return {
      name: m.name,
      memberId: formatId(ids[i]!),
      peerURLs: m.peerURLs,
      clientURLs: m.clientURLs,
      dataDir: m.dataDir,
      walDir: m.walDir ?? null,
      control: m.control.type,
      tool: f?.tool ? { kind: f.tool.kind, version: f.tool.version } : null,
      dataAside,
      walAside,
    };
  });

  const old = facts.oldCluster;
  if (old.healthy.length > 0) {
    refusals.push({
      code: 'OLD_CLUSTER_HEALTHY',
      message: `the old cluster still answers healthy at ${old.healthy.join(', ')}: a healthy cluster is not a disaster (use --force to restore anyway)`,
      forceable: true,
    });
  }

  const ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(backup.createdAt)) / 1000));
  if (ageSeconds > 24 * 3600)
    warnings.push(`the backup is ${Math.round(ageSeconds / 3600)} h old: every change since then is lost`);
  if (cid.toString(16) === backup.source.clusterId.replace(/^0x/, '').toLowerCase()) {
    refusals.push({
      code: 'TOKEN_INVALID',
      message: 'the new cluster ID equals the old one: choose another token',
      forceable: false,
    });
  }

  const steps = buildSteps(target, planned, { token, initialCluster, snapshotFile, quorum, backup });
  const effective = refusals.filter((r) => !(force && r.forceable));
  if (force && refusals.some((r) => r.forceable))
    warnings.push('--force: restoring although the old cluster answers healthy');

  return {
    formatVersion: PLAN_FORMAT_VERSION,
    createdAt: now.toISOString(),
    backup: {
      id: backup.id,
      clusterName: backup.clusterName,
      createdAt: backup.createdAt,
      ageSeconds,
      revision: backup.snapshot.revision,
      totalKeys: backup.snapshot.totalKeys,
      sha256: backup.snapshot.sha256,
      size: backup.snapshot.size,
      etcdVersion: backup.source.etcdVersion,
      oldClusterId: backup.source.clusterId,
    },
    newCluster: { token, clusterId: formatId(cid), initialCluster, members: planned, quorum },
    oldCluster: old,
    force,
    snapshotFile,
    steps,
    checks: [
      `every member (${target.members.map((m) => m.name).join(', ')}) answers healthy and is listed by member list`,
      'exactly one leader, the same on every member',
      `cluster ID is ${formatId(cid)} (the old one was ${backup.source.clusterId})`,
      backup.snapshot.liveKeys !== null
        ? `revision is ${backup.snapshot.revision} and there are ${backup.snapshot.liveKeys} keys, as in the backup`
        : `revision is ${backup.snapshot.revision}, as in the backup (the backup has no live key count)`,
      "HashKV at the backup revision is equal on every member, and equal to the backup's own (computed offline from the snapshot file)",
    ],
    refusals: effective,
    warnings,
    target,
  };
}

function asideFor(
  m: TargetMember,
  kind: 'data' | 'wal',
  f: DirFact,
  stamp: string,
  refusals: Refusal[],
): string | null {
  const what = kind === 'data' ? 'data dir' : 'WAL dir';
  const dir = kind === 'data' ? m.dataDir : m.walDir!;
  switch (f.state) {
    case 'missing':
      return null;
    case 'not-a-directory':
      refusals.push({
        code: 'DATA_DIR_NOT_A_DIRECTORY',
        member: m.name,
        message: `member "${m.name}": ${what} ${dir} exists and is not a directory`,
        forceable: false,
      });
      return null;
    case 'empty':
    case 'non-empty':
      if (f.mountPoint) {
        // rename(2) cannot move a mount point, and etcdctl 3.4 wants the data dir absent
        refusals.push({
          code: 'DATA_DIR_MOUNT_POINT',
          member: m.name,
          message: `member "${m.name}": ${what} ${dir} is a mount point; point ${kind === 'data' ? 'dataDir' : 'walDir'} at a directory inside it`,
          forceable: false,
        });
        return null;
      }
      if (f.state === 'empty') return null;
      if (!f.looksLikeEtcd) {
        refusals.push({
          code: 'DATA_DIR_NOT_ETCD',
          member: m.name,
          message: `member "${m.name}": ${what} ${dir} is not empty and holds more than etcd's files (${f.entries.join(', ')}); dr will not move it aside: check the path`,
          forceable: false,
        });
        return null;
      }
      return `${dir}.dr-aside-${stamp}`;
  }
}

function buildSteps(
  target: MembersFile,
  planned: PlannedMember[],
  ctx: { token: string; initialCluster: string; snapshotFile: string; quorum: number; backup: Manifest },
): PlanStep[] {
  const steps: PlanStep[] = [];
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
      commands: controlCommands(m, 'stop'),
      rollback: `start ${p.name} again: ${controlCommands(m, 'start').join(' && ')}`,
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
      commands: moves.map(([a, b]) => hostCmd(m, `mv -T ${a} ${b}`)),
      rollback: moves.map(([a, b]) => hostCmd(m, `mv -T ${b} ${a}`)).join(' && '),
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
    const skipHashCheck = !(m.control.type === 'systemd' && m.control.ssh);
    const argv = restoreArgv(tool, {
      skipHashCheck,
      snapshotFile: ctx.snapshotFile,
      name: p.name,
      initialCluster: ctx.initialCluster,
      token: ctx.token,
      peerURLs: p.peerURLs,
      dataDir: stagingDir(p.dataDir),
      walDir: p.walDir ? stagingDir(p.walDir) : undefined,
    });
    const renames = [
      [stagingDir(p.dataDir), p.dataDir],
      ...(p.walDir ? [[stagingDir(p.walDir), p.walDir]] : []),
    ] as [string, string][];
    const env = tool.kind === 'etcdctl' ? 'ETCDCTL_API=3 ' : '';
    steps.push({
      id: `restore:${p.name}`,
      kind: 'restore',
      member: p.name,
      description: `write ${p.name}'s new data dir ${p.dataDir}${p.walDir ? ` (WAL ${p.walDir})` : ''} with ${p.tool ? `${p.tool.kind} ${p.tool.version}` : 'etcd restore tool'} (member ID ${p.memberId})`,
      commands: [hostCmd(m, env + argv.join(' ')), ...renames.map(([a, b]) => hostCmd(m, `mv -T ${a} ${b}`))],
      rollback: `move the restored ${p.dataDir}${p.walDir ? ` and ${p.walDir}` : ''} away (it holds only restored data), then undo the move-aside`,
      parallelGroup: 'restore',
      params: { renames, skipHashCheck },
    });
  }
  // alongside etcd's restore tool (a worker thread while the tool's processes run): the HashKV every
  // restored member must answer, computed from the snapshot file itself
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
      commands: controlCommands(m, 'start'),
      rollback: `stop ${p.name}: ${controlCommands(m, 'stop').join(' && ')}`,
      params: {},
    };
  };
  // Every member is started, one after the other in plan order, before the first wait: a restored member
  // spends seconds loading its db before it can vote, and the members load in parallel (waiting for a
  // leader among the first quorum before starting the rest made a 3-member restore of 1 GiB ~3 s slower).
  planned.forEach((p) => steps.push(startStep(p)));
  const all = planned.map((p) => p.clientURLs[0]).join(',');
  steps.push({
    id: 'wait-quorum',
    kind: 'wait-quorum',
    description: `wait until a quorum (${ctx.quorum} of ${planned.length} members) agrees on one leader`,
    commands: [`etcdctl --endpoints ${all} endpoint status -w table`],
    rollback: 'stop the started members',
    params: { members: planned.map((p) => p.name) },
  });
  steps.push({
    id: 'wait-all',
    kind: 'wait-all',
    description: 'wait until every member has joined and caught up with the leader (applied index)',
    commands: [`etcdctl --endpoints ${all} endpoint status -w table`],
    rollback: 'stop every member',
    params: {},
  });
  steps.push({
    id: 'verify',
    kind: 'verify',
    description: 'verify the restored cluster against the backup (the checks below)',
    commands: [
      `etcdctl --endpoints ${all} endpoint hashkv --rev ${ctx.backup.snapshot.revision}`,
      `etcdctl --endpoints ${all} member list -w table`,
    ],
    rollback: 'nothing to undo: verification only reads',
    params: {},
  });
  return steps;
}

export function controlCommands(m: TargetMember, action: 'start' | 'stop'): string[] {
  switch (m.control.type) {
    case 'local':
      return action === 'stop'
        ? [`kill $(cat ${m.dataDir}.pid)   # if dr started it`]
        : [
            `etcd --name ${m.name} --data-dir ${m.dataDir} ...   # dr starts it detached, pid in ${m.dataDir}.pid`,
          ];
    case 'systemd': {
      // --no-block: etcd's Type=notify start waits for a quorum that later members bring
      const cmd =
        action === 'stop'
          ? `systemctl stop ${m.control.unit}`
          : `systemctl start --no-block ${m.control.unit}`;
      return [m.control.ssh ? `${m.control.ssh} '${cmd}'` : cmd];
    }
    case 'manual':
      return action === 'stop'
        ? [`stop etcd member ${m.name} (e.g. systemctl stop etcd) and confirm`]
        : [
            `start etcd member ${m.name} with --name ${m.name} --data-dir ${m.dataDir}${m.walDir ? ` --wal-dir ${m.walDir}` : ''} and confirm`,
          ];
  }
}

function hostCmd(m: TargetMember, cmd: string): string {
  return m.control.type === 'systemd' && m.control.ssh ? `${m.control.ssh} '${cmd}'` : cmd;
}

function mib(n: number): string {
  return `${Math.round(n / (1024 * 1024))} MiB`;
}

function majorMinor(v: string): number {
  const [a = 0, b = 0] = v.replace(/^v/, '').split('.').map(Number);
  return a * 1000 + b;
}
