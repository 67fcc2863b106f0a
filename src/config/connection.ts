import type { EtcdConnectionOptions } from '../etcd/types.js';
import type { ClusterConfig } from './load.js';

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
