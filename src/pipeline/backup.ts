/**
 * Takes one backup: snapshot stream -> digest check -> bbolt status (streamed) -> zstd -> storage, then the
 * manifest (the commit point). On any failure nothing becomes visible: the upload is aborted by the
 * backend and a data object already published is removed. Nothing is written locally.
 */
import type { KeyObject } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactUrl } from '../core/redact.js';
import { TOOL_VERSION } from '../core/version.js';
import { makeHeader } from '../crypto/age-header.js';
import { AGE_SCHEME, type AgeRecipient } from '../crypto/age-keys.js';
import type { MemberStatus } from '../etcd/types.js';
import { dataKey, newBackupId, validateClusterName } from '../manifest/layout.js';
import { MANIFEST_FORMAT_VERSION, type Manifest } from '../manifest/manifest.js';
import { writeManifest } from '../manifest/manifest-store.js';
import type { Backend } from '../storage/backend.js';
import { DEFAULT_COMPRESSION_LEVEL } from './compression.js';
import { SnapshotEncoder } from './snapshot-encoder.js';
import { defaultZstdParameters } from './zstd-encoder.js';

/** What the pipeline needs from an etcd client (src/etcd/client.ts satisfies it). */
export interface SnapshotProvider {
  pickSnapshotSource(
    prefer: 'follower' | 'leader' | 'any',
  ): Promise<{ endpoint: string; status: MemberStatus }>;
  snapshot(endpoint: string, signal?: AbortSignal): Readable;
  memberList(): Promise<{ id: bigint; name: string }[]>;
  countKeys(endpoint: string, opts?: { revision?: bigint }): Promise<{ count: number }>;
}

export interface BackupDeps {
  etcd: SnapshotProvider;
  backend: Backend;
  logger: Logger;
  clock: Clock;
}

export interface BackupOptions {
  clusterName: string;
  policy?: string | null;
  /** zstd level 1..19; 0 stores the plain snapshot uncompressed. @default DEFAULT_COMPRESSION_LEVEL */
  compressionLevel?: number;
  /** @default 'follower' */
  snapshotFrom?: 'follower' | 'leader' | 'any';
  /** age recipients: the stored object is encrypted to each of them (public keys only). @default none */
  encryptTo?: readonly AgeRecipient[];
  /** Ed25519 private key: the manifest is signed, its signature written before it */
  signKey?: KeyObject | null;
  signal?: AbortSignal;
  /** bytes received from etcd so far, and the db size etcd reported (an estimate of the total) */
  onProgress?: (received: number, expected: number) => void;
}

export async function takeBackup(deps: BackupDeps, opts: BackupOptions): Promise<Manifest> {
  const { etcd, backend, logger, clock } = deps;
  const cluster = validateClusterName(opts.clusterName);
  const level = opts.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
  if (!Number.isInteger(level) || level < 0 || level > 19) {
    throw new DrError('USAGE', `compression level ${level} is out of range (0 = none, 1..19)`);
  }
  opts.signal?.throwIfAborted();

  const { endpoint, status } = await etcd.pickSnapshotSource(opts.snapshotFrom ?? 'follower');
  const where = redactUrl(endpoint);
  const startedAt = clock.now();
  const id = newBackupId(startedAt);
  const recipients = opts.encryptTo ?? [];
  const encrypted = recipients.length > 0;
  const key = dataKey(cluster, id, encrypted);
  const log = logger.child({ backup: id, cluster, endpoint: where });
  log.info({ key }, 'backup started');

  // asked while the snapshot streams, so that it costs no time at the end
  const memberNameP = etcd
    .memberList()
    .then((ms) => ms.find((m) => m.id === status.memberId)?.name ?? null)
    .catch(() => null);
  let published = false;
  try {
    // before the stream starts: a 'data' listener below sets it flowing
    const sealed = encrypted ? await makeHeader(recipients) : null;
    const source = etcd.snapshot(endpoint, opts.signal);
    let received = 0;
    const expected = Number(status.dbSize);
    source.on('data', (c: Buffer) => {
      received += c.length;
      opts.onProgress?.(received, expected);
    });
    const encoder = new SnapshotEncoder(where, level === 0 ? null : defaultZstdParameters(level), sealed);

    let streamError: unknown = null;
    const streamed = new Promise<void>((resolve) => {
      pipeline(source, encoder, (err) => {
        if (err) streamError = err;
        resolve();
      });
    });
    let putError: unknown = null;
    const storedP = backend.put(key, encoder, { signal: opts.signal }).catch((err: unknown) => {
      putError = err;
      return null;
    });
    await streamed;
    // Counting at the snapshot's own revision is exact and races with nothing (a compaction past it, rare
    // right after the snapshot, only costs the figure). Asked as soon as the revision is known, while
    // storage is still making the object durable.
    const liveKeysP = streamError
      ? Promise.resolve(null)
      : etcd
          .countKeys(endpoint, { revision: encoder.result.status.revision })
          .then((r) => r.count)
          .catch(() => null);
    const stored = await storedP;
    if (streamError || putError || !stored) {
      // Whoever failed first explains it: a DrError from the stream (digest mismatch, member died) or from
      // storage (disk full, access denied). The other side then only reports the knock-on "premature close".
      throw streamError instanceof DrError ? streamError : (putError ?? streamError);
    }
    published = true;
    const streamedAt = clock.now();
    // computed as the bytes went by: no second pass over the snapshot
    const { status: st, digest: d, stored: storedObject } = encoder.result;
    if (st.totalSize !== d.dbSize) {
      throw new DrError(
        'SNAPSHOT_INVALID',
        `snapshot from ${where}: bbolt says ${st.totalSize} bytes (pgid x page size) but ${d.dbSize} were streamed`,
      );
    }

    const memberName = await memberNameP;
    const liveKeys = await liveKeysP;
    const completedAt = clock.now();
    const manifest: Manifest = {
      formatVersion: MANIFEST_FORMAT_VERSION,
      id,
      clusterName: cluster,
      policy: opts.policy ?? null,
      createdAt: startedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      durationMs: completedAt.getTime() - startedAt.getTime(),
      source: {
        endpoint: where,
        memberId: status.memberId.toString(16),
        memberName,
        isLeader: status.leaderId === status.memberId,
        clusterId: status.clusterId.toString(16),
        etcdVersion: status.version,
        raftIndex: status.raftIndex.toString(),
        raftTerm: status.raftTerm.toString(),
      },
      snapshot: {
        revision: st.revision.toString(),
        totalKeys: st.totalKey,
        liveKeys,
        hash: st.hash,
        dbSize: d.dbSize,
        sha256: d.sha256,
        etcdSha256: d.etcdSha256,
        size: d.size,
        consistentIndex: st.consistentIndex === null ? null : st.consistentIndex.toString(),
      },
      stored: {
        key,
        size: storedObject.size,
        sha256: storedObject.sha256,
        compression: level === 0 ? 'none' : 'zstd',
        compressionLevel: level === 0 ? null : level,
        encryption: encrypted
          ? { scheme: AGE_SCHEME, recipients: recipients.map((r) => r.fingerprint) }
          : null,
      },
      tool: { name: 'etcd-dr', version: TOOL_VERSION },
    };
    await writeManifest(backend, manifest, opts.signal, opts.signKey);
    log.info(
      {
        revision: manifest.snapshot.revision,
        size: manifest.stored.size,
        streamMs: streamedAt.getTime() - startedAt.getTime(),
        totalMs: manifest.durationMs,
      },
      'backup committed',
    );
    return manifest;
  } catch (err) {
    const e = toDrError(err, 'INTERNAL', `backup of cluster ${cluster} from ${where}`);
    log.warn({ code: e.code, err: e.message }, 'backup failed');
    if (published)
      await backend
        .remove(key)
        .catch((rmErr: unknown) =>
          log.error({ err: String(rmErr), key }, 'could not remove data object of failed backup'),
        );
    throw e;
  }
}
