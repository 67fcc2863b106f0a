/**
 * The commit record of one revision log segment (docs/revision-log.md §3). Written after the segment's
 * data object; a data object without one is a leftover every reader ignores. Each manifest names the
 * sha256 of the previous segment's manifest bytes (`prevSha256`, null at a chain's first segment), so a
 * segment removed, replaced or edited breaks the chain where it sits.
 *
 * Like a backup manifest it is believed only where it sits: cluster, revisions and format version must
 * be the ones its key names, and `stored.key` the data key derived from them (MANIFEST_MISMATCH). A writer
 * with a signing key signs it as backup manifests are signed (`<first>-<last>.manifest.sig`); a reader
 * with verify keys refuses it unsigned or badly signed.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { DrError } from '../core/errors.js';
import { NO_TRUST, signManifestBytes, type ManifestTrust } from '../manifest/manifest-signature.js';
import { checkSignature } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';
import { parseLogKey, segmentDataKey, segmentManifestKey, segmentSignatureKey } from './layout.js';
import { readJsonObject } from './json-object.js';

export const SEGMENT_MANIFEST_FORMAT_VERSION = 1;

const dec = z.string().regex(/^\d+$/, 'a decimal integer');
const hex = z.string().regex(/^[0-9a-f]+$/, 'lowercase hex');
const sha = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');

export const segmentManifestSchema = z.object({
  formatVersion: z.literal(SEGMENT_MANIFEST_FORMAT_VERSION),
  kind: z.literal('revlog-segment'),
  clusterName: z.string(),
  /** one chain = one unbroken run of revisions; a gap starts a new one */
  chainId: z.string().min(1),
  /** the revision the chain starts at (its first segment's firstRevision) */
  chainStartRevision: dec,
  /** sha256 of the previous segment's manifest bytes; null for the chain's first segment */
  prevSha256: sha.nullable(),
  firstRevision: dec,
  lastRevision: dec,
  /** when dr received the first and last revision (wall clock) */
  firstTime: z.iso.datetime(),
  lastTime: z.iso.datetime(),
  revisionCount: z.number().int().positive(),
  eventCount: z.number().int().positive(),
  /** the member the watch ran on */
  source: z.object({ endpoint: z.string(), memberId: hex }),
  /** the plain segment (segment-format.ts) */
  plain: z.object({ formatVersion: z.literal(1), size: z.number().int().positive(), sha256: sha }),
  stored: z.object({
    key: z.string(),
    size: z.number().int().positive(),
    sha256: sha,
    compression: z.literal('zstd'),
    encryption: z
      .object({
        scheme: z.literal('age-encryption.org/v1'),
        recipients: z.array(z.string().regex(/^[0-9a-f]{16}$/)).min(1),
      })
      .nullable(),
  }),
  /** HashKV taken while this segment was open, at a revision already logged */
  checkpoints: z.array(
    z.object({
      revision: dec,
      hashKV: z.number().int().nonnegative(),
      /** as the member reports it: -1 when it was never compacted */
      compactRevision: z.string().regex(/^-?\d+$/, 'a decimal integer'),
      memberId: hex,
      endpoint: z.string(),
      at: z.iso.datetime(),
    }),
  ),
  /** leases first seen (by this writer) in this segment's events, with the TTL they were granted */
  leases: z.array(
    z.object({
      id: hex,
      firstSeenRevision: dec,
      /** null when the lease was gone before it could be asked for */
      grantedTtl: z.number().int().nullable(),
    }),
  ),
  createdAt: z.iso.datetime(),
  tool: z.object({ name: z.literal('etcd-dr'), version: z.string() }),
});

export type SegmentManifest = z.infer<typeof segmentManifestSchema>;
export type Checkpoint = SegmentManifest['checkpoints'][number];
export type LeaseSeen = SegmentManifest['leases'][number];

/** The manifest's exact bytes as stored; the next segment's prevSha256 is their sha256. */
export function segmentManifestBytes(m: SegmentManifest): Buffer {
  return Buffer.from(JSON.stringify(m, null, 2) + '\n');
}

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The first field of `m` that does not match `key`; null when it matches. */
export function segmentKeyMismatch(
  m: SegmentManifest,
  key: string,
): { field: string; found: unknown; expected: unknown } | null {
  const at = parseLogKey(key);
  if (!at || at.kind !== 'segment-manifest')
    return { field: '(key)', found: key, expected: '<cluster>/log/<first>-<last>.manifest.json' };
  if (m.clusterName !== at.cluster)
    return { field: 'clusterName', found: m.clusterName, expected: at.cluster };
  if (m.firstRevision !== at.first.toString())
    return { field: 'firstRevision', found: m.firstRevision, expected: at.first.toString() };
  if (m.lastRevision !== at.last.toString())
    return { field: 'lastRevision', found: m.lastRevision, expected: at.last.toString() };
  const data = segmentDataKey(at.cluster, at.first, at.last, m.stored.encryption !== null);
  if (m.stored.key !== data) return { field: 'stored.key', found: m.stored.key, expected: data };
  return null;
}

export interface ReadSegmentManifest {
  key: string;
  manifest: SegmentManifest;
  /** sha256 of the bytes read: what the next segment's prevSha256 must be */
  sha256: string;
}

/**
 * Reads, parses and checks one segment manifest (schema, then its key: MANIFEST_MISMATCH) and, when
 * `trust` holds verify keys, its signature (MANIFEST_SIGNATURE_INVALID), as backup manifests are.
 */
export async function readSegmentManifest(
  backend: Backend,
  key: string,
  signal?: AbortSignal,
  trust: ManifestTrust = NO_TRUST,
): Promise<ReadSegmentManifest> {
  const { value, body } = await readJsonObject(
    backend,
    key,
    segmentManifestSchema,
    { what: 'segment manifest', check: 'segment-manifest' },
    signal,
  );
  const bad = segmentKeyMismatch(value, key);
  if (bad)
    throw new DrError(
      'MANIFEST_MISMATCH',
      `revlog: segment manifest ${key} in ${backend.location} does not match its key: ${bad.field} is ${JSON.stringify(bad.found)}, the key says ${JSON.stringify(bad.expected)}; refused (a manifest copied from elsewhere or edited)`,
      { key, field: bad.field, check: 'manifest-key' },
    );
  const sigKey = segmentSignatureKey(
    value.clusterName,
    BigInt(value.firstRevision),
    BigInt(value.lastRevision),
  );
  await checkSignature(backend, key, sigKey, body, trust, 'segments', signal);
  return { key, manifest: value, sha256: sha256Hex(body) };
}

/**
 * Writes the manifest: the segment's commit point. With a signing key its signature goes first, so that a
 * manifest a reader can see is already signed. Returns the sha256 of the manifest's bytes.
 */
export async function writeSegmentManifest(
  backend: Backend,
  m: SegmentManifest,
  signal?: AbortSignal,
  signKey?: KeyObject | null,
): Promise<string> {
  const bytes = segmentManifestBytes(m);
  if (signKey)
    await backend.put(
      segmentSignatureKey(m.clusterName, BigInt(m.firstRevision), BigInt(m.lastRevision)),
      Readable.from([signManifestBytes(bytes, signKey)]),
      { signal },
    );
  await backend.put(
    segmentManifestKey(m.clusterName, BigInt(m.firstRevision), BigInt(m.lastRevision)),
    Readable.from([bytes]),
    {
      signal,
    },
  );
  return sha256Hex(bytes);
}
