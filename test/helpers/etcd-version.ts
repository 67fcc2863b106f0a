/**
 * The version of the etcd this test run uses (the first `etcd` on PATH, which the version matrix in
 * test/etcd-matrix.ts sets), for assertions that differ between etcd versions.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

export interface EtcdVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

let cached: EtcdVersion | undefined;

export function etcdVersion(): EtcdVersion {
  if (cached) return cached;
  const out = execFileSync('etcd', ['--version'], { encoding: 'utf8' });
  const m = /etcd Version: (\d+)\.(\d+)\.(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the etcd version from: ${out}`);
  cached = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` };
  return cached;
}

/** true when the etcd under test is at least major.minor */
export function etcdAtLeast(major: number, minor: number): boolean {
  const v = etcdVersion();
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** The full path of `name` (etcd, etcdctl, etcdutl) as PATH finds it, or undefined */
export function etcdBinary(name: 'etcd' | 'etcdctl' | 'etcdutl'): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const f = path.join(dir, name);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
