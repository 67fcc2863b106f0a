/**
 * Reading and writing manifests in storage. A manifest is the commit point of a backup: it is written
 * only after the data object is complete, and readers ignore data objects that have none.
 */
import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { DrError, isDrError } from '../core/errors.js';
import type { Backend } from '../storage/backend.js';
import { manifestKey, parseObjectKey, signatureKey } from './layout.js';
import type { Manifest } from './manifest.js';
import { checkManifestKey } from './manifest-key-check.js';
import { NO_TRUST, signatureProblem, signManifestBytes, type ManifestTrust } from './manifest-signature.js';

/**
 * Writes the manifest (the commit point). With a signing key, its signature goes first, so that a
 * manifest a reader can see is already signed.
 */
export async function writeManifest(
  backend: Backend,
  manifest: Manifest,
  signal?: AbortSignal,
  signKey?: KeyObject | null,
): Promise<void> {
  const body = Buffer.from(JSON.stringify(manifest, null, 2) + '\n');
  if (signKey)
    await backend.put(
      signatureKey(manifest.clusterName, manifest.id),
      Readable.from([signManifestBytes(body, signKey)]),
      { signal },
    );
  await backend.put(manifestKey(manifest.clusterName, manifest.id), Readable.from([body]), { signal });
}

/**
 * Reads, parses and checks one manifest: the schema, its key (id, cluster, format version, data key:
 * MANIFEST_MISMATCH) and, when `trust` holds verify keys, its signature (MANIFEST_SIGNATURE_INVALID).
 */
export async function readManifest(
  backend: Backend,
  key: string,
  trust: ManifestTrust = NO_TRUST,
): Promise<Manifest> {
  const body = await buffer(await backend.get(key));
  const raw = body.toString('utf8');
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
  const manifest = result.data;
  checkManifestKey(manifest, key, backend.location);
  await checkSignature(
    backend,
    key,
    signatureKey(manifest.clusterName, manifest.id),
    body,
    trust,
    'manifests',
  );
  return manifest;
}

/**
 * With verify keys in `trust`: the signature object at `sigKey` must verify `body` (the bytes of the
 * manifest at `key`), else MANIFEST_SIGNATURE_INVALID naming the manifest. `what` names, in the way out,
 * what would be read unsigned ("manifests", "segments"). Backups' and the revision log's manifests alike.
 */
export async function checkSignature(
  backend: Backend,
  key: string,
  sigKey: string,
  body: Buffer,
  trust: ManifestTrust,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  if (trust.verifyKeys.length === 0) return;
  let sig: Buffer | null = null;
  try {
    sig = await buffer(await backend.get(sigKey, signal ? { signal } : {}));
  } catch (err) {
    if (!isDrError(err, 'STORAGE_NOT_FOUND')) throw err;
  }
  const problem = signatureProblem(body, sig, trust.verifyKeys);
  if (problem)
    throw new DrError(
      'MANIFEST_SIGNATURE_INVALID',
      `manifest ${key} in ${backend.location} is refused: ${problem}. To read unsigned ${what}, run without a verify key (no --verify-key, DR_VERIFY_KEY or manifests.verifyKeyFile)`,
      { key, check: 'manifest-signature' },
    );
}

export interface StorageObject {
  cluster: string;
  id: string;
  key: string;
  lastModified: Date;
  size: number;
}

export interface StorageListing {
  /**
   * manifests by their key. One id may appear in two clusters' folders (a copied manifest): both are
   * listed, and reading tells the genuine one from the copy.
   */
  manifests: Map<string, { cluster: string; id: string; key: string }>;
  /**
   * objects of a backup that has no manifest in its own folder (interrupted or failed backups, a
   * signature written before a manifest that never came, what a cut-short retention delete left)
   */
  orphans: StorageObject[];
  /** verification record keys of backups that have a manifest, by `<cluster>/<id>`, oldest first */
  verifications: Map<string, string[]>;
}

/**
 * One LIST of the storage (optionally one cluster): which backups exist, their verification records,
 * and which objects are orphans.
 */
export async function listStorage(backend: Backend, cluster?: string): Promise<StorageListing> {
  const manifests = new Map<string, { cluster: string; id: string; key: string }>();
  const present = new Set<string>();
  const others: (StorageObject & { kind: string })[] = [];
  for await (const obj of backend.list(cluster ? `${cluster}/` : '')) {
    const parsed = parseObjectKey(obj.key);
    if (!parsed) continue;
    if (parsed.kind === 'manifest') {
      manifests.set(obj.key, { cluster: parsed.cluster, id: parsed.id, key: obj.key });
      present.add(`${parsed.cluster}/${parsed.id}`);
    } else
      others.push({
        kind: parsed.kind,
        cluster: parsed.cluster,
        id: parsed.id,
        key: obj.key,
        lastModified: obj.lastModified,
        size: obj.size,
      });
  }
  // an object belongs to the manifest in its own folder only: a manifest of the same id elsewhere
  // (a copy) neither saves it nor claims it
  const orphans: StorageObject[] = [];
  const verifications = new Map<string, string[]>();
  for (const { kind, ...o } of others) {
    if (!present.has(`${o.cluster}/${o.id}`)) orphans.push(o);
    else if (kind === 'verification') {
      const list = verifications.get(`${o.cluster}/${o.id}`) ?? [];
      list.push(o.key);
      verifications.set(`${o.cluster}/${o.id}`, list);
    }
  }
  for (const list of verifications.values()) list.sort();
  return { manifests, orphans, verifications };
}

/** Finds one backup's manifest by id without knowing its cluster. */
export async function findManifest(
  backend: Backend,
  id: string,
  cluster?: string,
  trust: ManifestTrust = NO_TRUST,
): Promise<Manifest> {
  if (cluster) {
    try {
      return await readManifest(backend, manifestKey(cluster, id), trust);
    } catch (err) {
      if (!isDrError(err, 'STORAGE_NOT_FOUND')) throw err;
    }
  } else {
    const { manifests } = await listStorage(backend);
    // a copy of the manifest in another cluster's folder is refused; the genuine one is the answer
    let refused: unknown = null;
    for (const hit of manifests.values()) {
      if (hit.id !== id) continue;
      try {
        return await readManifest(backend, hit.key, trust);
      } catch (err) {
        if (!isDrError(err, 'MANIFEST_MISMATCH')) throw err;
        refused ??= err;
      }
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows the DrError caught above
    if (refused) throw refused;
  }
  throw new DrError(
    'BACKUP_NOT_FOUND',
    `no backup ${id} in ${backend.location}${cluster ? ` for cluster ${cluster}` : ''}`,
    {
      id,
    },
  );
}
