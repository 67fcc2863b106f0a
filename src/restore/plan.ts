/**
 * The restore planner: PURE. Everything it needs (the backup's manifest, the members file, the new token,
 * the time, and the facts observed on every member) is passed in; it returns a JSON plan a person can read
 * before anything changes: the backup, the new identity (cluster ID and member IDs, computed in advance),
 * every step with its exact command and its rollback, the checks after the restore, and the refusals that
 * stop it. An executor only runs a plan whose `refusals` is empty.
 */
import type { FileOwner } from './dir-facts.js';
import { clusterId, formatId, memberId } from './ids.js';
import { inUseProblems } from './in-use-problems.js';
import { asideFor, mib } from './plan-refusals.js';
import { planBump } from './plan-bump.js';
import { buildSteps } from './plan-steps.js';
import {
  PLAN_FORMAT_VERSION,
  type PlanInput,
  type PlannedMember,
  type Refusal,
  type RestorePlan,
} from './plan-types.js';

export * from './plan-types.js';
export { controlCommands } from './plan-commands.js';
export { stagingDir } from './plan-steps.js';

/** The WAL's first segment is preallocated to 64 MB; add a margin for the copy and the snap file. */
export const WAL_PREALLOC_BYTES = 64_000_000;
export const SPACE_MARGIN_BYTES = 32 * 1024 * 1024;

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
      for (const problem of f.tlsProblems ?? [])
        refusals.push({ code: 'TLS_FILE_INVALID', member: m.name, message: problem, forceable: false });
      if (f.inUse) {
        if (f.inUse.unknown) warnings.push(`member "${m.name}": ${f.inUse.unknown}`);
        for (const problem of inUseProblems(m, f.inUse, true)) {
          // a manual member is stopped by the operator: checked again right before its restore step
          if (m.control.type === 'manual')
            warnings.push(
              `${problem} (it must be free once you have stopped the member: checked again then)`,
            );
          else refusals.push({ code: 'TARGET_IN_USE', member: m.name, message: problem, forceable: false });
        }
      }
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
    // the restored dirs belong to whoever owned the dirs they replace (Debian runs etcd as etcd), or owner:
    const ownerFor = (o: FileOwner | null | undefined) => m.owner ?? (o ? `${o.uid}:${o.gid}` : null);
    const owner = ownerFor(f?.dataOwner);
    const walOwner = m.walDir ? ownerFor(f?.walOwner) : null;
    for (const o of new Set([owner, walOwner].filter((x) => x !== null))) {
      const uid = /^\d+/.exec(o)?.[0];
      const fine = f?.hostUid === 0 || (uid !== undefined && f?.hostUid === Number(uid));
      if (f && !fine)
        refusals.push({
          code: 'OWNER_NOT_SETTABLE',
          member: m.name,
          message: `member "${m.name}": the restored dirs must belong to ${o}, and dr runs as uid ${f.hostUid ?? 'unknown'} there: run it as root${m.owner ? '' : " (the owner is the replaced dir's; set owner: to choose)"}`,
          forceable: false,
        });
    }
    return {
      name: m.name,
      memberId: formatId(ids[i]!),
      owner,
      walOwner,
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
  for (const u of old.unverifiable ?? []) {
    refusals.push({
      code: 'OLD_CLUSTER_UNVERIFIABLE',
      message: `the old cluster endpoint ${u.endpoint} answers but its health cannot be verified (${u.error}): a live cluster dr cannot probe is not known to be dead (fix clientTls / the endpoint, or use --force)`,
      forceable: true,
    });
  }
  for (const problem of facts.clientTlsProblems ?? [])
    refusals.push({ code: 'TLS_FILE_INVALID', message: problem, forceable: false });

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

  const bump = planBump(input, target, refusals, warnings);
  const steps = buildSteps(target, planned, {
    token,
    initialCluster,
    snapshotFile,
    quorum,
    backup,
    bumpRevision: bump?.revision,
  });
  const effective = refusals.filter((r) => !(force && r.forceable));
  if (force && refusals.some((r) => r.forceable))
    warnings.push(
      `--force: restoring although ${refusals
        .filter((r) => r.forceable)
        .map((r) => (r.code === 'OLD_CLUSTER_HEALTHY' ? 'the old cluster answers healthy' : r.message))
        .join('; ')}`,
    );

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
      ...(bump
        ? [
            `revision is ${bump.toRevision} (the backup's ${bump.fromRevision} bumped by ${bump.revision}, compacted there)` +
              (backup.snapshot.liveKeys !== null
                ? ` and there are ${backup.snapshot.liveKeys} keys, as in the backup`
                : ''),
            "HashKV at that revision is equal on every member (the bump and the compaction change it: it is not compared with the backup's own)",
          ]
        : [
            backup.snapshot.liveKeys !== null
              ? `revision is ${backup.snapshot.revision} and there are ${backup.snapshot.liveKeys} keys, as in the backup`
              : `revision is ${backup.snapshot.revision}, as in the backup (the backup has no live key count)`,
            "HashKV at the backup revision is equal on every member, and equal to the backup's own (computed offline from the snapshot file)",
          ]),
    ],
    refusals: effective,
    warnings,
    target,
    bump,
  };
}

function majorMinor(v: string): number {
  const [a = 0, b = 0] = v.replace(/^v/, '').split('.').map(Number);
  return a * 1000 + b;
}
