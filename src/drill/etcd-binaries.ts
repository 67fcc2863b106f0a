/**
 * Which etcd a drill restores with: the one whose major.minor equals the backup's (a drill rehearses the
 * restore you would do, with the etcd the cluster ran). Candidate folders are the ones given (flags or
 * the daemon config), then every folder on PATH; the first match wins. No match is a CONFIG_INVALID that
 * names what was found where: a drill with another etcd version would rehearse something else.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { DrError } from '../core/errors.js';

const run = promisify(execFile);

export interface EtcdBinaries {
  dir: string;
  version: string;
  etcd: string;
  etcdctl: string;
  /** may not exist (etcd 3.4 has none); the restore tool lookup then falls back to etcdctl in the same folder */
  etcdutl: string;
}

function executable(f: string): boolean {
  try {
    accessSync(f, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function etcdVersionIn(dir: string, signal?: AbortSignal): Promise<string | null> {
  const bin = path.join(dir, 'etcd');
  if (!executable(bin)) return null;
  try {
    const { stdout } = await run(bin, ['--version'], { signal, timeout: 10_000 });
    return /etcd Version: (\d+\.\d+\.\d+\S*)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

const majorMinor = (v: string): string => v.replace(/^v/, '').split('.').slice(0, 2).join('.');

/**
 * The first folder (given ones first, then PATH) holding an etcd of the backup's major.minor and an
 * etcdctl beside it. `want` empty: the first etcd found.
 */
export async function findEtcdFor(
  want: string,
  o: { dirs?: readonly string[]; pathEnv: string; signal?: AbortSignal },
): Promise<EtcdBinaries> {
  const fromPath = o.pathEnv.split(path.delimiter).filter(Boolean);
  const dirs = [...new Set([...(o.dirs ?? []).map((d) => path.resolve(d)), ...fromPath])];
  const found: string[] = [];
  for (const dir of dirs) {
    const version = await etcdVersionIn(dir, o.signal);
    if (!version) continue;
    found.push(`${version} in ${dir}`);
    if (want && majorMinor(version) !== majorMinor(want)) continue;
    if (!executable(path.join(dir, 'etcdctl'))) {
      found[found.length - 1] += ' (no etcdctl beside it)';
      continue;
    }
    return {
      dir,
      version,
      etcd: path.join(dir, 'etcd'),
      etcdctl: path.join(dir, 'etcdctl'),
      etcdutl: path.join(dir, 'etcdutl'),
    };
  }
  throw new DrError(
    'CONFIG_INVALID',
    `drill: no etcd ${want ? `${majorMinor(want)}.x (the backup's version, ${want}) ` : ''}with etcdctl beside it ` +
      `(found ${found.join(', ') || 'no etcd at all'}); install it and pass its folder with --etcd-bin-dir ` +
      '(drill.etcdBinDirs in the daemon config)',
    { want, found },
  );
}
