/**
 * Committing one sealed segment: the data object first, then the manifest (the commit point). A put the
 * transport breaks off is tried again (the segment is in memory, so its body can be made again); any
 * other failure is thrown, and the writer stops: what is committed stays committed, and a restart
 * resumes after it.
 */
import type { KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../core/logger.js';
import { AGE_SCHEME, type AgeRecipient } from '../crypto/age-keys.js';
import { TOOL_VERSION } from '../core/version.js';
import type { Backend } from '../storage/backend.js';
import { isTransient } from '../storage/retry.js';
import { segmentDataKey } from './layout.js';
import type { SealedSegment } from './segment-builder.js';
import {
  writeSegmentManifest,
  type Checkpoint,
  type LeaseSeen,
  type SegmentManifest,
} from './segment-manifest.js';

export interface ChainState {
  chainId: string;
  chainStartRevision: bigint;
  /** sha256 of the last committed manifest of this chain; null before its first segment */
  prevSha256: string | null;
}

export interface CommitInput {
  cluster: string;
  chain: ChainState;
  sealed: SealedSegment;
  recipients: readonly AgeRecipient[];
  source: { endpoint: string; memberId: bigint };
  checkpoints: Checkpoint[];
  leases: LeaseSeen[];
  now: Date;
  /** signs the manifest (its signature is written first) */
  signKey?: KeyObject | null;
}

const ATTEMPTS = 4;

async function withRetries<T>(what: string, log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || attempt >= ATTEMPTS) throw err;
      log.warn({ err: (err as Error).message, attempt }, `${what} failed; trying again`);
      await sleep(500 * 2 ** (attempt - 1));
    }
  }
}

/** Stores the segment and its manifest; returns the manifest and the sha256 of its bytes. */
export async function commitSegment(
  backend: Backend,
  input: CommitInput,
  log: Logger,
): Promise<{ manifest: SegmentManifest; sha256: string }> {
  const s = input.sealed;
  const encrypted = input.recipients.length > 0;
  const key = segmentDataKey(input.cluster, s.firstRevision, s.lastRevision, encrypted);
  await withRetries(`revlog: upload of ${key}`, log, () => backend.put(key, Readable.from(s.stored.pieces)));
  const manifest: SegmentManifest = {
    formatVersion: 1,
    kind: 'revlog-segment',
    clusterName: input.cluster,
    chainId: input.chain.chainId,
    chainStartRevision: input.chain.chainStartRevision.toString(),
    prevSha256: input.chain.prevSha256,
    firstRevision: s.firstRevision.toString(),
    lastRevision: s.lastRevision.toString(),
    firstTime: new Date(s.firstTime).toISOString(),
    lastTime: new Date(s.lastTime).toISOString(),
    revisionCount: s.revisionCount,
    eventCount: s.eventCount,
    source: { endpoint: input.source.endpoint, memberId: input.source.memberId.toString(16) },
    plain: { formatVersion: 1, size: s.plain.size, sha256: s.plain.sha256 },
    stored: {
      key,
      size: s.stored.size,
      sha256: s.stored.sha256,
      compression: 'zstd',
      encryption: encrypted
        ? { scheme: AGE_SCHEME, recipients: input.recipients.map((r) => r.fingerprint) }
        : null,
    },
    checkpoints: input.checkpoints,
    leases: input.leases,
    createdAt: input.now.toISOString(),
    tool: { name: 'etcd-dr', version: TOOL_VERSION },
  };
  const sha256 = await withRetries(`revlog: manifest of ${key}`, log, () =>
    writeSegmentManifest(backend, manifest, undefined, input.signKey),
  );
  return { manifest, sha256 };
}
