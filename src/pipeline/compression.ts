/**
 * The default zstd level for backups: 1. On the bench's Kubernetes-like data level 3 stores barely less
 * for about twice the CPU, and on a host where etcd and dr share two cores that CPU is backup time.
 * Figures: docs/benchmarks.md, "Figures behind design choices in the code".
 */
export const DEFAULT_COMPRESSION_LEVEL = 1;
