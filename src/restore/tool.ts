/**
 * Finds etcd's own restore tool on a host: `etcdutl snapshot restore` (3.5+) when it is there, else
 * `etcdctl snapshot restore` (3.4, with ETCDCTL_API=3). dr never writes a data dir itself.
 *
 * A missing tool is a CONFIG_INVALID (exit 2), not a runtime failure: nothing was tried, retrying will not
 * help, and the fix is the operator's (install etcd's client tools or set `binaries:` in the members file).
 */
import { DrError } from '../core/errors.js';
import { localHost, type MemberHost } from './host.js';

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
   * hashes the whole db again, about 2.3 s of CPU per member and GiB with etcd 3.4's Go sha256.
   */
  skipHashCheck?: boolean;
}

export async function findRestoreTool(
  opts: { etcdutl?: string; etcdctl?: string; host?: MemberHost; signal?: AbortSignal } = {},
): Promise<RestoreTool> {
  const host = opts.host ?? localHost;
  const tried: string[] = [];
  for (const kind of ['etcdutl', 'etcdctl'] as const) {
    const command = opts[kind] ?? kind;
    tried.push(command);
    const r = await host.run([command, 'version'], { signal: opts.signal, env: { ETCDCTL_API: '3' } });
    if (r.code !== 0) continue;
    const m = /version:\s*(\d+\.\d+\.\d+\S*)/.exec(r.stdout);
    if (!m) continue;
    return { kind, command, version: m[1]!, supportsBumpRevision: bumpSupported(kind, m[1]!) };
  }
  throw new DrError(
    'CONFIG_INVALID',
    `restore: no etcd restore tool on ${host.label} (tried ${tried.join(', ')}): install etcdutl (3.5+) or ` +
      `etcdctl (3.4), or set binaries.etcdutl / binaries.etcdctl in the members file`,
    { host: host.label, tried },
  );
}

function bumpSupported(kind: RestoreTool['kind'], version: string): boolean {
  const [maj, min, patch] = version.split(/[.-]/).map(Number) as [number, number, number];
  if (kind === 'etcdutl') return maj > 3 || (maj === 3 && (min > 5 || (min === 5 && patch >= 10)));
  return maj === 3 && min === 4 && patch >= 28;
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
  return argv;
}

export const RESTORE_TOOL_ENV = { ETCDCTL_API: '3' };
