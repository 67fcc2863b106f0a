/**
 * Reads one cluster's connection out of a dr config file (for --config FILE --cluster NAME).
 */
import { DrError } from '../core/errors.js';
import type { EtcdConnectionOptions } from '../etcd/types.js';
import { connectionOf } from '../config/connection.js';
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
  return { connection: connectionOf(cluster) };
}
