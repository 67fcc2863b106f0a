/**
 * The IDs etcd derives at bootstrap and at `snapshot restore` (docs/format.md §7): no time component,
 * so a restore's new cluster ID and member IDs can be shown in the plan before anything runs.
 *
 *   member ID  = first 8 bytes (big-endian) of SHA-1(sorted peer URLs concatenated + cluster token)
 *   cluster ID = first 8 bytes (big-endian) of SHA-1(sorted member IDs, each as 8 bytes big-endian)
 */
import { createHash } from 'node:crypto';

export function memberId(peerURLs: readonly string[], token: string): bigint {
  const input = [...peerURLs].sort().join('') + token;
  return createHash('sha1').update(input, 'utf8').digest().readBigUInt64BE(0);
}

export function clusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

/** Hex without padding, as etcdctl prints IDs (`%x`). */
export function formatId(id: bigint): string {
  return id.toString(16);
}

export function parseHexId(hex: string): bigint {
  return BigInt(`0x${hex}`);
}
