/** The restore plan's types: the facts it is made from, its steps, refusals and the plan itself. */
import type { Manifest } from '../manifest/manifest.js';
import type { DirFact, FileOwner } from './dir-facts.js';
import type { MembersFile, TargetMember } from '../config/members-file.js';
import type { InUseFacts } from './in-use-problems.js';
import type { RestoreTool } from './restore-argv.js';

export const PLAN_FORMAT_VERSION = 1;

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
  /** what already uses the member's ports and dirs (absent: not looked at) */
  inUse?: InUseFacts;
  /** what is wrong with its tls / peerTls files, read on its host */
  tlsProblems?: string[];
  /** owner, group and mode of the data / WAL dir the restore replaces (null: none there) */
  dataOwner?: FileOwner | null;
  walOwner?: FileOwner | null;
  /** the uid dr runs as on the member's host (null: unknown) */
  hostUid?: number | null;
}

export interface OldClusterFacts {
  endpoints: string[];
  /** endpoints whose /health said true (a healthy member of a cluster with a leader) */
  healthy: string[];
  /** endpoints that answered but could not be verified (TLS, auth, timeout, not etcd's answer) */
  unverifiable?: { endpoint: string; error: string }[];
  /** endpoints where nothing listens (connection refused, no route) */
  down?: string[];
  detail?: string;
}

export interface RestoreFacts {
  members: Record<string, MemberFacts>;
  oldCluster: OldClusterFacts;
  /** what is wrong with clientTls (dr's own certificate) */
  clientTlsProblems?: string[];
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
  /** restore with `--bump-revision N --mark-compacted` (see plan-bump.ts) */
  bumpRevision?: number;
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
    | 'OLD_CLUSTER_UNVERIFIABLE'
    | 'TARGET_IN_USE'
    | 'TLS_FILE_INVALID'
    | 'OWNER_NOT_SETTABLE'
    | 'DATA_DIR_NOT_ETCD'
    | 'DATA_DIR_NOT_A_DIRECTORY'
    | 'DATA_DIR_MOUNT_POINT'
    | 'NO_DISK_SPACE'
    | 'CONTROL_UNREACHABLE'
    | 'NO_RESTORE_TOOL'
    | 'TOKEN_INVALID'
    | 'BUMP_UNSUPPORTED';
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
  /** who the restored data and WAL dirs will belong to ("uid:gid" or the members file's owner; null: dr's user) */
  owner: string | null;
  walOwner: string | null;
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
  /** the revision bump and why (absent or null: none; see plan-bump.ts) */
  bump?: PlannedBump | null;
}

/** `--bump-revision N --mark-compacted` as planned (plan-bump.ts) */
export interface PlannedBump {
  /** N: how many revisions the store is moved up */
  revision: number;
  markCompacted: true;
  /** the backup's revision, and the restored cluster's revision after the bump (both as strings: int64) */
  fromRevision: string;
  toRevision: string;
  why: string;
}
