/** The snapshot file against the manifest: its sha256. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { DrError } from '../core/errors.js';
import type { Manifest } from '../manifest/manifest.js';

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(file), h, { signal });
  return h.digest('hex');
}

/** The snapshot file still has the manifest's sha256 (a resumed run re-checks the unsynced scratch copy). */
export async function assertSnapshotIntact(
  file: string,
  manifest: Manifest,
  signal?: AbortSignal,
): Promise<void> {
  const have = await sha256File(file, signal).catch(() => null);
  if (have !== manifest.snapshot.sha256) {
    throw new DrError(
      'VERIFY_FAILED',
      `restore: snapshot ${file} ${have === null ? 'is missing' : `has sha256 ${have}`}, the backup ${manifest.id} says ${manifest.snapshot.sha256}; remove it and resume with the storage to fetch it again`,
      { check: 'snapshot-sha256' },
    );
  }
}
