/**
 * The restore tool (etcdutl, or etcdctl before 3.6) as the plan knows it, and the exact argv of one
 * member's restore. Pure: finding and asking the tool is tool.ts, so that the planner can print the
 * command without reaching the code that runs processes.
 */

export interface RestoreTool {
  kind: 'etcdutl' | 'etcdctl';
  /** the command as run (a name found on PATH or the configured path) */
  command: string;
  version: string;
  /** etcdutl 3.5.10+ and late 3.4 etcdctl releases know --bump-revision / --mark-compacted */
  supportsBumpRevision: boolean;
}

export interface RestoreArgs {
  snapshotFile: string;
  name: string;
  initialCluster: string;
  token: string;
  peerURLs: string[];
  dataDir: string;
  walDir?: string;
  /**
   * Leave out the tool's own sha256 check of the snapshot. Only for a file dr has itself just checked
   * against etcd's trailer and the manifest, on the same host (see plan.ts): the tool's check reads and
   * hashes the whole db again, per member (its cost: docs/benchmarks.md).
   */
  skipHashCheck?: boolean;
  /**
   * `--bump-revision N --mark-compacted` (the tool accepts one only with the other): the restored store
   * starts N revisions above the backup's and compacted there (Kubernetes, see plan.ts). Only for a tool
   * whose supportsBumpRevision is true.
   */
  bumpRevision?: number;
}

/** The exact argv of one member's restore (the plan prints it; the executor runs it). */
export function restoreArgv(tool: Pick<RestoreTool, 'kind' | 'command'>, a: RestoreArgs): string[] {
  const argv = [
    tool.command,
    'snapshot',
    'restore',
    a.snapshotFile,
    '--name',
    a.name,
    '--initial-cluster',
    a.initialCluster,
    '--initial-cluster-token',
    a.token,
    '--initial-advertise-peer-urls',
    a.peerURLs.join(','),
    '--data-dir',
    a.dataDir,
  ];
  if (a.walDir) argv.push('--wal-dir', a.walDir);
  if (a.skipHashCheck) argv.push('--skip-hash-check');
  if (a.bumpRevision) argv.push('--bump-revision', String(a.bumpRevision), '--mark-compacted');
  return argv;
}
