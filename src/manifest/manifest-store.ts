/**
 * Reading and writing manifests in storage. A manifest is the commit point of a backup: it is written
 * only after the data object is complete, and readers ignore data objects that have none.
 */
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { DrError, isDrError } from '../core/errors.js';
import type { Backend } from '../storage/backend.js';
import { manifestKey, parseObjectKey } from './layout.js';
import type { Manifest } from './manifest.js';

export async function writeManifest(
  backend: Backend,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  await backend.put(manifestKey(manifest.clusterName, manifest.id), Readable.from([body]), { signal });
}

export async function readManifest(backend: Backend, key: string): Promise<Manifest> {
  const raw = await text(await backend.get(key));
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new DrError(
      'VERIFY_FAILED',
      `manifest ${key} in ${backend.location} is not valid JSON: ${(err as Error).message}`,
      {
        check: 'manifest',
      },
    );
  }
  // the schema (zod: ~90 ms to load) only for reading; a backup that only writes never loads it
  const { manifestSchema } = await import('./manifest-schema.js');
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new DrError(
      'VERIFY_FAILED',
      `manifest ${key} in ${backend.location} is invalid: ${issue.path.join('.')}: ${issue.message}`,
      { check: 'manifest' },
    );
  }
  return result.data;
}

export interface StorageListing {
  /** manifest keys by backup id */
  manifests: Map<string, { cluster: string; key: string }>;
  /** data objects that have no manifest (interrupted or failed backups) */
  orphans: { cluster: string; id: string; key: string; lastModified: Date; size: number }[];
}

/** One LIST of the storage (optionally one cluster): which backups exist, and which data objects are orphans. */
export async function listStorage(backend: Backend, cluster?: string): Promise<StorageListing> {
  const manifests = new Map<string, { cluster: string; key: string }>();
  const data = new Map<
    string,
    { cluster: string; id: string; key: string; lastModified: Date; size: number }
  >();
  for await (const obj of backend.list(cluster ? `${cluster}/` : '')) {
    const parsed = parseObjectKey(obj.key);
    if (!parsed) continue;
    if (parsed.kind === 'manifest') manifests.set(parsed.id, { cluster: parsed.cluster, key: obj.key });
    else
      data.set(parsed.id, {
        cluster: parsed.cluster,
        id: parsed.id,
        key: obj.key,
        lastModified: obj.lastModified,
        size: obj.size,
      });
  }
  const orphans = [...data.values()].filter((d) => !manifests.has(d.id));
  return { manifests, orphans };
}

/** Finds one backup's manifest by id without knowing its cluster. */
export async function findManifest(backend: Backend, id: string, cluster?: string): Promise<Manifest> {
  if (cluster) {
    try {
      return await readManifest(backend, manifestKey(cluster, id));
    } catch (err) {
      if (!isDrError(err, 'STORAGE_NOT_FOUND')) throw err;
    }
  } else {
    const { manifests } = await listStorage(backend);
    const hit = manifests.get(id);
    if (hit) return readManifest(backend, hit.key);
  }
  throw new DrError(
    'BACKUP_NOT_FOUND',
    `no backup ${id} in ${backend.location}${cluster ? ` for cluster ${cluster}` : ''}`,
    {
      id,
    },
  );
}
