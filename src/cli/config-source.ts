/**
 * Reads one cluster's connection out of a dr config file (for --config FILE --cluster NAME).
 */
import { DrError } from '../core/errors.js';
import type { EtcdConnectionOptions } from '../etcd/types.js';
import { loadConfig } from '../config/load.js';

export function loadClusterFromConfig(
  file: string,
  name: string,
  env: NodeJS.ProcessEnv,
): { connection: EtcdConnectionOptions } {
  const config = loadConfig(file, { env });
  const cluster = config.clusters.find((c) => c.name === name);
  if (!cluster) {
    throw new DrError(
      'CONFIG_INVALID',
      `${file}: no cluster named "${name}" (clusters: ${config.clusters.map((c) => c.name).join(', ') || 'none'})`,
    );
  }
  return { connection: clusterConnection(cluster) };
}

export function clusterConnection(
  cluster: ReturnType<typeof loadConfig>['clusters'][number],
): EtcdConnectionOptions {
  return {
    endpoints: cluster.endpoints,
    caFile: cluster.tls?.caFile,
    certFile: cluster.tls?.certFile,
    keyFile: cluster.tls?.keyFile,
    user: cluster.auth?.user,
    password: cluster.auth?.password.reveal(),
    dialTimeoutMs: cluster.dialTimeoutMs,
    requestTimeoutMs: cluster.requestTimeoutMs,
    snapshotFrom: cluster.snapshotFrom,
  };
}
