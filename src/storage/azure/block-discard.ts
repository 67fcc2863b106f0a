/**
 * Discarding the uncommitted blocks of a blob that was never committed (a failed, cancelled or killed
 * put).
 *
 * Azure has no "abort upload": uncommitted blocks stay (invisible to reads and listings) until a block
 * list is committed for that name or, at the latest, 7 days later. Delete Blob is not documented to
 * remove a blob that has uncommitted blocks only, so the discard is: commit an empty block list *only if
 * no committed blob of that name exists* (If-None-Match: *; this drops every uncommitted block), then
 * delete exactly that empty blob (If-Match on its etag, so a real commit that slipped in between is
 * never deleted). Between the two requests a 0-byte blob is visible under the name for one round trip;
 * dr's readers ignore a data object without a manifest, and manifests are never staged in blocks (they
 * are far below one block), so no reader can take it for a backup.
 *
 * When a committed blob of that name exists (an overwrite that failed) its uncommitted blocks cannot be
 * dropped without touching it: they are left for Azure to expire, and the caller is told so.
 */
import type { BlockBlobClient } from '@azure/storage-blob';
import type { Logger } from '../../core/logger.js';
import { azureCodeOf, azureStatusOf } from './azure-errors.js';

/** Rounds of discard-then-look (see discardUncommitted). */
const ROUNDS = 3;
const SETTLE_MS = 250;

/**
 * Returns undefined when nothing is left (discarded, or already gone), else a sentence saying what is
 * left and why, for the caller's error message.
 *
 * A Put Block cut on our side after its body was sent may still be stored by the service after the
 * discard: so after each discard the block list is read back, and if a late block has landed the discard
 * runs again after a short pause (at most ROUNDS times; what still lands after that Azure expires).
 */
export async function discardUncommitted(
  blob: BlockBlobClient,
  signal: AbortSignal,
  logger: Logger,
  endpoint: string,
): Promise<string | undefined> {
  for (let round = 1; ; round++) {
    const left = await discardOnce(blob, signal, logger, endpoint);
    if (left !== undefined || round >= ROUNDS) return left;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    if (!(await hasUncommittedBlocks(blob, signal))) return undefined;
  }
}

async function hasUncommittedBlocks(blob: BlockBlobClient, signal: AbortSignal): Promise<boolean> {
  try {
    const list = await blob.getBlockList('uncommitted', { abortSignal: signal });
    return (list.uncommittedBlocks?.length ?? 0) > 0;
  } catch {
    // 404: no blob and no blocks under the name; anything else: we cannot tell, and the discard did run
    return false;
  }
}

async function discardOnce(
  blob: BlockBlobClient,
  signal: AbortSignal,
  logger: Logger,
  endpoint: string,
): Promise<string | undefined> {
  let etag: string | undefined;
  try {
    const res = await blob.commitBlockList([], { conditions: { ifNoneMatch: '*' }, abortSignal: signal });
    etag = res.etag;
  } catch (err) {
    const code = azureCodeOf(err);
    const status = azureStatusOf(err);
    if (code === 'ContainerNotFound' || status === 404) return undefined;
    const why =
      code === 'BlobAlreadyExists' || status === 409 || status === 412
        ? 'a committed blob of that name exists'
        : (code ?? (err instanceof Error ? err.name : String(err)));
    logger.warn(
      { blob: blob.name, endpoint, reason: why },
      'azblob: could not discard the uncommitted blocks of a failed put; Azure drops them within 7 days',
    );
    return `its uncommitted blocks could not be discarded (${why}); Azure drops them within 7 days`;
  }
  try {
    await blob.delete({ conditions: etag ? { ifMatch: etag } : {}, abortSignal: signal });
    return undefined;
  } catch (err) {
    const status = azureStatusOf(err);
    // Gone already, or replaced by a real commit in between: nothing of ours is left.
    if (status === 404 || status === 412) return undefined;
    const why = azureCodeOf(err) ?? (err instanceof Error ? err.name : String(err));
    logger.warn(
      { blob: blob.name, endpoint, reason: why },
      'azblob: an empty blob made to discard uncommitted blocks could not be deleted; remove it',
    );
    return `an empty blob "${blob.name}" made to discard its uncommitted blocks could not be deleted (${why}): remove it`;
  }
}
