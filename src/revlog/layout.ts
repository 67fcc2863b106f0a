/**
 * Where the revision log lives in storage, beside a cluster's full backups (docs/revision-log.md §1):
 *
 *   <cluster>/log/<first>-<last>.log.zst[.age]     a segment's data object (revisions first..last)
 *   <cluster>/log/<first>-<last>.manifest.json     its manifest, written last: the commit point
 *   <cluster>/log/<first>-<last>.manifest.sig      the manifest's signature (with a signing key), before it
 *   <cluster>/log/gaps/<lostFrom>-<time>.json       a gap record
 *   <cluster>/log/pruned.json                       how far retention pruned the log (log-retention.ts)
 *   <cluster>/log/.dr-lease.json                    the lease of the one writer (follow-log.ts)
 *
 * Revisions are written with 20 digits, so names sort by revision. These keys have three or more
 * segments: the backup layout (manifest/layout.ts) does not parse them, so `dr list`, `dr gc` and
 * retention never see or touch the log.
 */
import { DrError } from '../core/errors.js';

export const LOG_DIR = 'log';
export const SEGMENT_DATA_SUFFIX = '.log.zst';
export const SEGMENT_ENCRYPTED_SUFFIX = '.log.zst.age';
export const SEGMENT_MANIFEST_SUFFIX = '.manifest.json';
/** the manifest's Ed25519 signature (manifest/manifest-signature.ts), written before the manifest */
export const SEGMENT_SIGNATURE_SUFFIX = '.manifest.sig';
const RANGE_RE = /^(\d{20})-(\d{20})$/;
const GAP_RE = /^(\d{20})-(\d{8}T\d{9}Z)\.json$/;

export function padRevision(rev: bigint): string {
  if (rev < 0n) throw new DrError('INTERNAL', `revlog: negative revision ${rev}`);
  return rev.toString().padStart(20, '0');
}

export function logPrefix(cluster: string): string {
  return `${cluster}/${LOG_DIR}/`;
}

/** The writer's lease (storage/lease.ts): one writer per cluster and storage; apart from the pruners' lease. */
export function logLeaseKey(cluster: string): string {
  return `${logPrefix(cluster)}.dr-lease.json`;
}

export function prunedMarkerKey(cluster: string): string {
  return `${logPrefix(cluster)}pruned.json`;
}

export function gapPrefix(cluster: string): string {
  return `${cluster}/${LOG_DIR}/gaps/`;
}

function range(first: bigint, last: bigint): string {
  return `${padRevision(first)}-${padRevision(last)}`;
}

export function segmentDataKey(cluster: string, first: bigint, last: bigint, encrypted: boolean): string {
  return `${logPrefix(cluster)}${range(first, last)}${encrypted ? SEGMENT_ENCRYPTED_SUFFIX : SEGMENT_DATA_SUFFIX}`;
}

export function segmentManifestKey(cluster: string, first: bigint, last: bigint): string {
  return `${logPrefix(cluster)}${range(first, last)}${SEGMENT_MANIFEST_SUFFIX}`;
}

export function segmentSignatureKey(cluster: string, first: bigint, last: bigint): string {
  return `${logPrefix(cluster)}${range(first, last)}${SEGMENT_SIGNATURE_SUFFIX}`;
}

/** `<cluster>/log/gaps/<lostFrom>-<yyyymmddThhmmssSSSZ>.json` */
export function gapKey(cluster: string, lostFrom: bigint, at: Date): string {
  const stamp = at.toISOString().replace(/[-:.]/g, '');
  return `${gapPrefix(cluster)}${padRevision(lostFrom)}-${stamp}.json`;
}

export type LogObject =
  | {
      kind: 'segment-manifest' | 'segment-data' | 'segment-signature';
      cluster: string;
      first: bigint;
      last: bigint;
    }
  | { kind: 'gap'; cluster: string; lostFrom: bigint };

/** The log keys above; null for anything else (a leftover temp name, a foreign object). */
export function parseLogKey(key: string): LogObject | null {
  const parts = key.split('/');
  if (parts.length === 4 && parts[1] === LOG_DIR && parts[2] === 'gaps') {
    const m = GAP_RE.exec(parts[3]!);
    return m ? { kind: 'gap', cluster: parts[0]!, lostFrom: BigInt(m[1]!) } : null;
  }
  if (parts.length !== 3 || parts[1] !== LOG_DIR) return null;
  const [cluster, , file] = parts as [string, string, string];
  for (const [suffix, kind] of [
    [SEGMENT_MANIFEST_SUFFIX, 'segment-manifest'],
    [SEGMENT_SIGNATURE_SUFFIX, 'segment-signature'],
    [SEGMENT_DATA_SUFFIX, 'segment-data'],
    [SEGMENT_ENCRYPTED_SUFFIX, 'segment-data'],
  ] as const) {
    if (!file.endsWith(suffix)) continue;
    const m = RANGE_RE.exec(file.slice(0, -suffix.length));
    if (!m) return null;
    return { kind, cluster, first: BigInt(m[1]!), last: BigInt(m[2]!) };
  }
  return null;
}
