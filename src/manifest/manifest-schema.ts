import { z } from 'zod';
import { MANIFEST_FORMAT_VERSION, type Manifest } from './manifest.js';

const dec = z.string().regex(/^\d+$/, 'a decimal integer');
const hex = z.string().regex(/^[0-9a-f]+$/, 'lowercase hex');
const sha = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');

/** Validates a manifest read from storage, so that a damaged manifest is reported, not half-used. */
export const manifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  id: z.string(),
  clusterName: z.string(),
  policy: z.string().nullable(),
  createdAt: z.iso.datetime(),
  completedAt: z.iso.datetime(),
  durationMs: z.number().nonnegative(),
  source: z.object({
    endpoint: z.string(),
    memberId: hex,
    memberName: z.string().nullable(),
    isLeader: z.boolean(),
    clusterId: hex,
    etcdVersion: z.string(),
    raftIndex: dec,
    raftTerm: dec,
  }),
  snapshot: z.object({
    revision: dec,
    totalKeys: z.number().int().nonnegative(),
    liveKeys: z.number().int().nonnegative().nullable(),
    hash: z.number().int().nonnegative(),
    dbSize: z.number().int().positive(),
    sha256: sha,
    etcdSha256: sha,
    size: z.number().int().positive(),
    consistentIndex: dec.nullable(),
  }),
  stored: z.object({
    key: z.string(),
    size: z.number().int().nonnegative(),
    sha256: sha,
    compression: z.enum(['zstd', 'none']),
    compressionLevel: z.number().int().nullable(),
    encryption: z
      .object({
        scheme: z.literal('age-encryption.org/v1'),
        recipients: z.array(z.string().regex(/^[0-9a-f]{16}$/)).min(1),
      })
      .nullable(),
  }),
  tool: z.object({ name: z.literal('etcd-dr'), version: z.string() }),
}) satisfies z.ZodType<Manifest>;
