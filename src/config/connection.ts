import type { EtcdConnectionOptions } from '../etcd/types.js';
import type { ClusterConfig, Config } from './load.js';

/** The etcd connection a configured cluster describes (the one place a config password is revealed for etcd). */
export function connectionOf(cluster: ClusterConfig): EtcdConnectionOptions {
  return {
    endpoints: cluster.endpoints,
    caFile: cluster.tls?.caFile,
    certFile: cluster.tls?.certFile,
    keyFile: cluster.tls?.keyFile,
    user: cluster.auth?.user,
    password: cluster.auth ? cluster.auth.password.reveal() : undefined,
    dialTimeoutMs: cluster.dialTimeoutMs,
    requestTimeoutMs: cluster.requestTimeoutMs,
    snapshotFrom: cluster.snapshotFrom,
  };
}

/** The config's url with its `options` merged into the query (options win), as the backends read it. */
export function storageUrlOf(target: Config['storage'][number]): string {
  const entries = Object.entries(target.options ?? {});
  if (entries.length === 0) return target.url;
  const u = new URL(target.url);
  for (const [k, v] of entries) u.searchParams.set(k, String(v));
  return u.toString();
}
