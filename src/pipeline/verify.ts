/**
 * `dr verify`: reads a backup back from storage and checks it end to end without writing it anywhere:
 * stored sha256, zstd decode, etcd's sha256 trailer, the snapshot
 * sha256 and size, both bbolt meta pages, and with deep the full tree walk (hash, revision, key count
 * equal to the manifest's, computed as the bytes stream by). Every check is reported, passed or failed, so
 * the report says which one broke. Nothing is written locally.
 *
 * A read the transport breaks off (reset, timeout: a transient storage error) is not a verdict on the
 * backup: it is read again from the start, a few times, and if it still fails verifyBackup throws that
 * storage error (exit 3) instead of reporting a failed check.
 */
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DrError, toDrError } from '../core/errors.js';
import { bufferSource } from '../formats/byte-source.js';
import { readMetas } from '../formats/bbolt/snapshot-status.js';
import { StreamingSnapshotStatus } from '../formats/bbolt/stream-status.js';
import type { Manifest } from '../manifest/manifest.js';
import type { Backend } from '../storage/backend.js';
import { isTransient } from '../storage/retry.js';
import { keyMissing } from '../crypto/age-header.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { decoderFor } from './fetch.js';
import { readBackError } from './read-back-error.js';
import { SnapshotDigest } from './snapshot-digest.js';
import { StatusTap } from './status-tap.js';
import { StreamMeter } from './stream-meter.js';

export type CheckName =
  | 'stored-sha256'
  | 'decrypt'
  | 'decompress'
  | 'etcd-trailer'
  | 'snapshot-sha256'
  | 'snapshot-size'
  | 'bbolt-meta'
  | 'snapshot-status';

export interface VerifyCheck {
  check: CheckName;
  ok: boolean | null; // null: not reached because an earlier stage failed
  /** for people: a snapshot hash in hex, as `etcdctl snapshot status -w table` prints it */
  detail: string;
  /** snapshot-status: what the tree walk found, as numbers (JSON prints the hash in decimal, as etcdctl -w json) */
  found?: { hash: number; revision: string; totalKey: number };
}

export interface VerifyReport {
  id: string;
  cluster: string;
  ok: boolean;
  deep: boolean;
  checks: VerifyCheck[];
  /** an encrypted backup verified without its identity: only the stored object was checked */
  storedOnly?: boolean;
}

/** Keeps the first `limit` bytes (the bbolt meta pages) while passing everything through. */
class HeadCapture extends Transform {
  private parts: Buffer[] = [];
  private kept = 0;
  constructor(private readonly limit: number) {
    super();
  }
  get head(): Buffer {
    return Buffer.concat(this.parts);
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.kept < this.limit) {
      const part = chunk.subarray(0, this.limit - this.kept);
      this.parts.push(Buffer.from(part));
      this.kept += part.length;
    }
    cb(null, chunk);
  }
}

const discard = () =>
  new Writable({
    write: (_c, _e, cb) => cb(),
  });

export interface VerifyOptions {
  deep?: boolean;
  signal?: AbortSignal;
  /** Reads of the object in all, when the transport breaks off. @default 3 */
  readAttempts?: number;
  /** Wait before the second read; doubles per read. @default 1000 */
  readRetryDelayMs?: number;
  /**
   * age identities for an encrypted backup. Without them a shallow verify checks the stored object only
   * (sha256 and size: what a host that takes backups can check); a deep one is refused.
   */
  identities?: AgeIdentities | null;
}

export async function verifyBackup(
  backend: Backend,
  manifest: Manifest,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const attempts = Math.max(1, opts.readAttempts ?? 3);
  const enc = manifest.stored.encryption;
  const storedOnly = Boolean(enc) && !opts.identities;
  if (storedOnly && opts.deep) throw keyMissing(`backup ${manifest.id}`, enc!.recipients, null);
  for (let attempt = 1; ; attempt++) {
    try {
      return storedOnly
        ? await verifyStoredOnly(backend, manifest, opts)
        : await verifyOnce(backend, manifest, opts);
    } catch (err) {
      if (!isTransient(err) || opts.signal?.aborted) throw err;
      if (attempt >= attempts) {
        const e = err as DrError;
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
        throw new DrError(
          'ABORTED',
          `verify ${manifest.id}: cancelled`,
          { transient: false },
          { cause: err },
        );
      }
    }
  }
}

async function verifyOnce(backend: Backend, manifest: Manifest, opts: VerifyOptions): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const add = (check: CheckName, ok: boolean | null, detail: string, extra: Partial<VerifyCheck> = {}) =>
    checks.push({ check, ok, detail, ...extra });
  const storedMeter = new StreamMeter();
  const digest = new SnapshotDigest(`backup ${manifest.id}`);
  const head = new HeadCapture(256 * 1024);
  const stages: (Transform | Writable)[] = [
    storedMeter,
    ...decoderFor(manifest, opts.identities),
    digest,
    head,
  ];
  const tap = opts.deep ? new StatusTap(new StreamingSnapshotStatus()) : null;
  if (tap) stages.push(tap);

  let failure: ReturnType<typeof readBackError> | null = null;
  try {
    await pipeline([await backend.get(manifest.stored.key, { signal: opts.signal }), ...stages, discard()], {
      signal: opts.signal,
    });
  } catch (err) {
    failure = readBackError(err, `verify ${manifest.id}`);
    if (failure.code !== 'VERIFY_FAILED') throw failure; // storage or local failure: nothing was checked
  }

  // stored-sha256: when decoding broke off, hash the stored object on its own so the report is complete.
  let storedSha = failure ? null : storedMeter.sha256;
  let storedSize = storedMeter.bytes;
  if (failure) {
    const again = new StreamMeter();
    try {
      await pipeline([await backend.get(manifest.stored.key, { signal: opts.signal }), again, discard()], {
        signal: opts.signal,
      });
    } catch (err) {
      throw readBackError(err, `verify ${manifest.id}`);
    }
    storedSha = again.sha256;
    storedSize = again.bytes;
  }
  add(
    'stored-sha256',
    storedSha === manifest.stored.sha256 && storedSize === manifest.stored.size,
    storedSha === manifest.stored.sha256
      ? `${storedSha} (${storedSize} bytes)`
      : `got ${storedSha} (${storedSize} bytes), manifest says ${manifest.stored.sha256} (${manifest.stored.size} bytes)`,
  );
  if (failure) {
    const stage = failure.details.check as CheckName;
    if (manifest.stored.encryption && stage !== 'decrypt') add('decrypt', true, 'age payload opened');
    add(
      stage === 'etcd-trailer' ? 'decompress' : stage,
      stage === 'etcd-trailer' ? true : false,
      stage === 'etcd-trailer' ? 'decoded' : failure.message,
    );
    if (stage === 'etcd-trailer') add('etcd-trailer', false, failure.message);
    return finish();
  }
  if (manifest.stored.encryption)
    add('decrypt', true, `age, opened with ${opts.identities!.file}: every chunk authenticated`);
  add(
    'decompress',
    true,
    manifest.stored.compression === 'zstd'
      ? 'zstd frame decoded, content checksum ok'
      : 'stored uncompressed',
  );
  const d = digest.result;
  add('etcd-trailer', true, `sha256 of the db equals etcd's trailer ${d.etcdSha256}`);
  add(
    'snapshot-sha256',
    d.sha256 === manifest.snapshot.sha256,
    d.sha256 === manifest.snapshot.sha256
      ? d.sha256
      : `got ${d.sha256}, manifest says ${manifest.snapshot.sha256}`,
  );
  add(
    'snapshot-size',
    d.size === manifest.snapshot.size,
    `${d.size} bytes (manifest ${manifest.snapshot.size})`,
  );

  const metas = readMetas(bufferSource(head.head));
  const problems = metas.metas.flatMap((m, i) =>
    m ? m.problems.map((p) => `meta ${i}: ${p}`) : [`meta ${i}: unreadable`],
  );
  const current = metas.current === null ? null : metas.metas[metas.current];
  const sizeOk = current ? current.pgid * current.pageSize === d.dbSize : false;
  add(
    'bbolt-meta',
    problems.length === 0 && sizeOk,
    problems.length
      ? problems.join('; ')
      : sizeOk
        ? `both meta pages valid; txid ${current!.txid}, ${current!.pgid} pages of ${current!.pageSize} bytes`
        : `meta says ${current ? current.pgid * current.pageSize : '?'} bytes, db has ${d.dbSize}`,
  );
  if (tap) {
    try {
      const st = tap.statusResult;
      const same =
        st.hash === manifest.snapshot.hash &&
        st.revision.toString() === manifest.snapshot.revision &&
        st.totalKey === manifest.snapshot.totalKeys;
      add(
        'snapshot-status',
        same,
        `hash ${st.hash.toString(16)} revision ${st.revision} keys ${st.totalKey}` +
          (same
            ? ''
            : ` (manifest: hash ${manifest.snapshot.hash.toString(16)} revision ${manifest.snapshot.revision} keys ${manifest.snapshot.totalKeys})`),
        { found: { hash: st.hash, revision: st.revision.toString(), totalKey: st.totalKey } },
      );
    } catch (err) {
      add('snapshot-status', false, toDrError(err).message);
    }
  }
  return finish();

  function finish(): VerifyReport {
    const names: CheckName[] = [
      'stored-sha256',
      ...(manifest.stored.encryption ? (['decrypt'] as const) : []),
      'decompress',
      'etcd-trailer',
      'snapshot-sha256',
      'snapshot-size',
      'bbolt-meta',
    ];
    if (opts.deep) names.push('snapshot-status');
    for (const n of names) if (!checks.some((c) => c.check === n)) add(n, null, 'not reached');
    return {
      id: manifest.id,
      cluster: manifest.clusterName,
      ok: checks.every((c) => c.ok !== false && c.ok !== null),
      deep: Boolean(opts.deep),
      checks,
    };
  }
}

/**
 * An encrypted backup without its identity: the stored object's sha256 and size, nothing else. The
 * report says which checks it could not make and why; ok is the stored object's verdict.
 */
async function verifyStoredOnly(
  backend: Backend,
  manifest: Manifest,
  opts: VerifyOptions,
): Promise<VerifyReport> {
  const meter = new StreamMeter();
  try {
    await pipeline([await backend.get(manifest.stored.key, { signal: opts.signal }), meter, discard()], {
      signal: opts.signal,
    });
  } catch (err) {
    throw readBackError(err, `verify ${manifest.id}`);
  }
  const ok = meter.sha256 === manifest.stored.sha256 && meter.bytes === manifest.stored.size;
  const why = `encrypted (age, recipients ${manifest.stored.encryption!.recipients.join(', ')}): no --identity given`;
  const checks: VerifyCheck[] = [
    {
      check: 'stored-sha256',
      ok,
      detail: ok
        ? `${meter.sha256} (${meter.bytes} bytes)`
        : `got ${meter.sha256} (${meter.bytes} bytes), manifest says ${manifest.stored.sha256} (${manifest.stored.size} bytes)`,
    },
    ...(
      ['decrypt', 'decompress', 'etcd-trailer', 'snapshot-sha256', 'snapshot-size', 'bbolt-meta'] as const
    ).map((check) => ({ check, ok: null, detail: `skipped: ${why}` })),
  ];
  return { id: manifest.id, cluster: manifest.clusterName, ok, deep: false, checks, storedOnly: true };
}
