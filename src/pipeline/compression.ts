/**
 * The default zstd level for backups: 1. On the bench's Kubernetes-like data, level 1 compressed to 35.9 %
 * and level 3 to 35.7 % of the snapshot, but level 3 took 1.7 to 2.3 times the CPU (two runs of
 * scripts/zstd-levels.mjs: 552 vs 331 and 579 vs 254 MB/s a core). On a host where etcd and dr share two cores, that CPU is backup time.
 */
export const DEFAULT_COMPRESSION_LEVEL = 1;
