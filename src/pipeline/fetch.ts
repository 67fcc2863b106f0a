/**
 * `dr fetch`: turns a stored backup back into the plain snapshot file that `etcdctl snapshot save` would
 * have written, checking the stored sha256, etcd's trailer and the snapshot sha256 while writing. The
 * output appears only if every check passed.
 *
 * A download the transport breaks off (reset, timeout: a transient storage error) is started again from
 * the beginning, a few times; the partial file of the failed read is removed each time. If every read
 * fails, that storage error is thrown (exit 3): it says nothing about the backup.
 */
import type { Transform } from 'node:stream';
import { DecompressStream } from 'zstd-napi';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgeDecryptStream } from '../crypto/age-decrypt-stream.js';
import { keyMissing } from '../crypto/age-header.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { DrError } from '../core/errors.js';
import { refuseExisting, writeFileAtomic } from '../core/safe-file.js';
import type { Manifest } from '../manifest/manifest.js';
import type { Backend } from '../storage/backend.js';
import { isTransient } from '../storage/retry.js';
import { SnapshotDigest } from './snapshot-digest.js';
import { StreamMeter } from './stream-meter.js';
import { readBackError } from './read-back-error.js';

export interface FetchResult {
  file: string;
  size: number;
  sha256: string;
}

/**
 * The stages that turn a stored object back into the plain snapshot: age decryption when the backup is
 * encrypted, then zstd. Every reader (fetch, verify, and through fetch audit, diff, restore and drills)
 * gets them here. An encrypted backup without an identity, or with identities none of whose recipients
 * the manifest lists, is refused before any byte is read (ENCRYPTION_KEY_MISSING names both sides).
 */
export function decoderFor(manifest: Manifest, identities?: AgeIdentities | null): Transform[] {
  return storedDecoder(manifest.stored, `backup ${manifest.id}`, identities);
}

/**
 * The same stages for any stored object dr writes (a backup, a revision log segment), from what its
 * manifest says of it; `what` names it in messages.
 */
export function storedDecoder(
  stored: { compression: string; encryption: { recipients: string[] } | null },
  what: string,
  identities?: AgeIdentities | null,
): Transform[] {
  const zstd = stored.compression === 'zstd' ? [new DecompressStream()] : [];
  const enc = stored.encryption;
  if (!enc) return zstd;
  if (!identities || !identities.fingerprints.some((f) => enc.recipients.includes(f)))
    throw keyMissing(what, enc.recipients, identities ?? null);
  return [new AgeDecryptStream(identities, what, enc.recipients), ...zstd];
}

export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
  /** fsync the output (default true); restore's scratch copy, re-verified on resume, skips it */
  durable?: boolean;
  /** Reads of the object in all, when the transport breaks off. @default 3 */
  readAttempts?: number;
  /** Wait before the second read; doubles per read. @default 1000 */
  readRetryDelayMs?: number;
  /** age identities for an encrypted backup (crypto/key-files.ts readIdentityFile) */
  identities?: AgeIdentities | null;
}

export async function fetchSnapshot(
  backend: Backend,
  manifest: Manifest,
  outFile: string,
  opts: FetchOptions = {},
): Promise<FetchResult> {
  await refuseExisting(outFile, 'fetch');
  decoderFor(manifest, opts.identities); // a missing key is said before anything is read
  const attempts = Math.max(1, opts.readAttempts ?? 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetchOnce(backend, manifest, outFile, opts);
    } catch (err) {
      if (!isTransient(err) || opts.signal?.aborted) throw err;
      const e = err as DrError;
      if (attempt >= attempts) {
        throw new DrError(
          e.code,
          `${e.message} (the object was read ${attempt} times)`,
          { ...e.details, reads: attempt },
          { cause: err },
        );
      }
      try {
        await sleep((opts.readRetryDelayMs ?? 1000) * 2 ** (attempt - 1), undefined, { signal: opts.signal });
      } catch {
        throw new DrError('ABORTED', `fetch ${manifest.id}: cancelled`, { transient: false }, { cause: err });
      }
    }
  }
}

async function fetchOnce(
  backend: Backend,
  manifest: Manifest,
  outFile: string,
  opts: FetchOptions,
): Promise<FetchResult> {
  const storedMeter = new StreamMeter();
  // the digest stage hashes the plain file once for both checks (etcd's trailer and the manifest's sha256)
  const digest = new SnapshotDigest(`backup ${manifest.id}`, opts.onProgress);
  const body = await backend.get(manifest.stored.key, { signal: opts.signal });
  try {
    await writeFileAtomic(outFile, body, [storedMeter, ...decoderFor(manifest, opts.identities), digest], {
      signal: opts.signal,
      durable: opts.durable,
      beforeCommit: () => {
        if (storedMeter.sha256 !== manifest.stored.sha256) {
          throw new DrError(
            'VERIFY_FAILED',
            `fetch ${manifest.id}: stored object ${manifest.stored.key} sha256 ${storedMeter.sha256} != manifest ${manifest.stored.sha256}`,
            {
              check: 'stored-sha256',
            },
          );
        }
        const plain = digest.result.sha256;
        if (plain !== manifest.snapshot.sha256) {
          throw new DrError(
            'VERIFY_FAILED',
            `fetch ${manifest.id}: snapshot sha256 ${plain} != manifest ${manifest.snapshot.sha256}`,
            {
              check: 'snapshot-sha256',
            },
          );
        }
      },
    });
  } catch (err) {
    throw readBackError(err, `fetch ${manifest.id}`);
  }
  return { file: outFile, size: digest.result.size, sha256: digest.result.sha256 };
}
