/**
 * Finds etcd's own restore tool on a host: `etcdutl snapshot restore` (3.5+) when it is there, else
 * `etcdctl snapshot restore` (3.4 and 3.5, with ETCDCTL_API=3). dr never writes a data dir itself.
 *
 * etcdctl lost `snapshot restore` and `snapshot status` in 3.6 (they moved to etcdutl in 3.5), so etcdctl is
 * accepted only below 3.6 and only when its help lists `snapshot restore`. A tool of an older minor release
 * than the etcd that wrote the backup is refused (when the backup's version is given): it does not know the
 * newer data format (3.6 adds the `meta/storageVersion` schema key, for one), and a restore it writes may not
 * be what the backup holds. The refusal comes before any change, through the planner's NO_RESTORE_TOOL.
 *
 * A missing tool is a CONFIG_INVALID (exit 2), not a runtime failure: nothing was tried, retrying will not
 * help, and the fix is the operator's (install etcd's client tools or set `binaries:` in the members file).
 */
import { DrError } from '../core/errors.js';
import { localHost, type MemberHost } from './host.js';
import type { RestoreTool } from './restore-argv.js';

export async function findRestoreTool(
  opts: {
    etcdutl?: string;
    etcdctl?: string;
    host?: MemberHost;
    signal?: AbortSignal;
    /** the etcd version that wrote the backup (manifest source.etcdVersion): an older tool is refused */
    backupVersion?: string;
  } = {},
): Promise<RestoreTool> {
  const host = opts.host ?? localHost;
  const tried: string[] = [];
  const env = { ETCDCTL_API: '3' };
  for (const kind of ['etcdutl', 'etcdctl'] as const) {
    const command = opts[kind] ?? kind;
    const r = await host.run([command, 'version'], { signal: opts.signal, env });
    const m = r.code === 0 ? /version:\s*(\d+\.\d+\.\d+\S*)/.exec(r.stdout) : null;
    if (!m) {
      tried.push(`${command} (not found or no version)`);
      continue;
    }
    const version = m[1]!;
    if (kind === 'etcdctl') {
      if (compareMinor(version, '3.6') >= 0) {
        tried.push(`${command} ${version} (etcdctl has no snapshot restore from 3.6 on: use etcdutl)`);
        continue;
      }
      const help = await host.run([command, 'snapshot', 'restore', '--help'], { signal: opts.signal, env });
      if (help.code !== 0 || !/snapshot restore\s+-/.test(help.stdout + help.stderr)) {
        tried.push(`${command} ${version} (its help lists no snapshot restore)`);
        continue;
      }
    }
    const old = olderThanBackup(version, opts.backupVersion);
    if (old) {
      tried.push(`${command} ${version} (${old})`);
      continue;
    }
    return { kind, command, version, supportsBumpRevision: bumpSupported(kind, version) };
  }
  throw new DrError(
    'CONFIG_INVALID',
    `restore: no usable etcd restore tool on ${host.label} (tried ${tried.join(', ')}): install etcdutl ` +
      `(3.5+; the only one from 3.6 on) or etcdctl (3.4, 3.5)${opts.backupVersion ? ` of etcd ${minorOf(opts.backupVersion)} or later` : ''}, ` +
      `or set binaries.etcdutl / binaries.etcdctl in the members file`,
    { host: host.label, tried },
  );
}

/** [major, minor] of "3.5.16", "v3.6.0-rc.1"; null when it does not parse */
function parseMinor(v: string): [number, number] | null {
  const m = /^v?(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function minorOf(v: string): string {
  const p = parseMinor(v);
  return p ? `${p[0]}.${p[1]}` : v;
}

/** <0, 0, >0 as a's major.minor is below, equal to, above b's (unparsable: 0) */
export function compareMinor(a: string, b: string): number {
  const x = parseMinor(a);
  const y = parseMinor(b);
  if (!x || !y) return 0;
  return x[0] !== y[0] ? x[0] - y[0] : x[1] - y[1];
}

/**
 * Why a tool of `toolVersion` must not restore a backup written by etcd `backupVersion`, or null. Patch
 * releases of one minor share the data format, so only the minor release counts.
 */
export function olderThanBackup(toolVersion: string, backupVersion: string | undefined): string | null {
  if (!backupVersion || compareMinor(toolVersion, backupVersion) >= 0) return null;
  return `older than the etcd ${backupVersion} that wrote the backup: it does not know that data format`;
}

function bumpSupported(kind: RestoreTool['kind'], version: string): boolean {
  const [maj, min, patch] = version.split(/[.-]/).map(Number) as [number, number, number];
  if (kind === 'etcdutl') return maj > 3 || (maj === 3 && (min > 5 || (min === 5 && patch >= 10)));
  return maj === 3 && min === 4 && patch >= 28;
}

export const RESTORE_TOOL_ENV = { ETCDCTL_API: '3' };
