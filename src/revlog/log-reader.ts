/**
 * Reading a cluster's revision log: list and check the manifests (each against its key, the chains with
 * chain-check.ts), then stream the revision records of the segments asked for.
 *
 * A segment is read twice: once to check its stored sha256 (nothing decoded), then to decode it. So no
 * record of a replaced or damaged object is ever handed out, and memory stays at one record whatever
 * the segment's size. The second read checks the sha256 again, and the plain sha256, the record count
 * and the revisions against the manifest.
 */
import { createHash } from 'node:crypto';
import { PassThrough, pipeline, type Readable, type Transform } from 'node:stream';
import { isDrError, DrError } from '../core/errors.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { storedDecoder } from '../pipeline/fetch.js';
import { StreamMeter } from '../pipeline/stream-meter.js';
import type { Backend } from '../storage/backend.js';
import { checkChains, type ChainCheck, type LogProblem } from './chain-check.js';
import { readGapRecord, type GapRecord } from './gap.js';
import { logPrefix, parseLogKey } from './layout.js';
import { readPrunedThrough } from './log-retention.js';
import { SegmentDecoder, type RevisionRecord } from './segment-format.js';
import type { ManifestTrust } from '../manifest/manifest-signature.js';
import { readSegmentManifest, type ReadSegmentManifest, type SegmentManifest } from './segment-manifest.js';

export interface LogListing extends ChainCheck {
  segments: ReadSegmentManifest[];
  gaps: { key: string; record: GapRecord }[];
  /** the revision retention pruned the log through (log-retention.ts); null: never pruned */
  prunedThrough: bigint | null;
}

/** Every manifest and gap record of the cluster's log, read and checked; problems are collected, not thrown. */
const READ_CONCURRENCY = 16;

/** With `trust` verify keys, an unsigned or badly signed segment manifest is refused (`segment-refused`). */
export async function listLog(
  backend: Backend,
  cluster: string,
  signal?: AbortSignal,
  trust?: ManifestTrust,
): Promise<LogListing> {
  const segments: ReadSegmentManifest[] = [];
  const gaps: { key: string; record: GapRecord }[] = [];
  const refused: LogProblem[] = [];
  const keys: string[] = [];
  for await (const o of backend.list(logPrefix(cluster), { signal })) keys.push(o.key);
  keys.sort();
  // one GET per manifest (and per signature): READ_CONCURRENCY at a time, the results kept in key order
  const read = async (
    key: string,
  ): Promise<
    | { seg: ReadSegmentManifest }
    | { gap: { key: string; record: GapRecord } }
    | { problem: LogProblem }
    | null
  > => {
    const at = parseLogKey(key);
    if (!at || at.cluster !== cluster) return null;
    try {
      if (at.kind === 'segment-manifest')
        return { seg: await readSegmentManifest(backend, key, signal, trust) };
      if (at.kind === 'gap') return { gap: { key, record: await readGapRecord(backend, key, signal) } };
      return null;
    } catch (err) {
      if (
        !isDrError(err, 'VERIFY_FAILED') &&
        !isDrError(err, 'MANIFEST_MISMATCH') &&
        !isDrError(err, 'MANIFEST_SIGNATURE_INVALID')
      )
        throw err;
      return {
        problem: {
          code: 'segment-refused',
          revision: at.kind === 'gap' ? at.lostFrom : at.first,
          key,
          message: err.message,
        },
      };
    }
  };
  const results: Awaited<ReturnType<typeof read>>[] = new Array<null>(keys.length).fill(null);
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(READ_CONCURRENCY, keys.length) }, async () => {
      // a failure (storage) stops every reader, not only the one that met it
      while (next < keys.length && !failed) {
        const i = next++;
        try {
          results[i] = await read(keys[i]!);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    }),
  );
  for (const r of results) {
    if (!r) continue;
    if ('seg' in r) segments.push(r.seg);
    else if ('gap' in r) gaps.push(r.gap);
    else refused.push(r.problem);
  }
  const prunedThrough = await readPrunedThrough(backend, cluster, signal);
  const check = checkChains(segments, gaps, prunedThrough);
  return {
    segments,
    gaps,
    prunedThrough,
    chains: check.chains,
    problems: [...refused, ...check.problems].sort((a, b) =>
      a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0,
    ),
  };
}

/**
 * The object through `stages` (a meter first: the stored sha256), as one Readable whose iteration throws
 * the first failure of any stage (a transport error of the download included) instead of waiting.
 */
function readThrough(body: Readable, stages: Transform[]): { out: PassThrough; meter: StreamMeter } {
  const meter = new StreamMeter();
  const out = new PassThrough({ highWaterMark: 256 << 10 });
  pipeline([body, meter, ...stages, out], () => undefined);
  return { out, meter };
}

function mismatch(m: SegmentManifest, key: string, check: string, why: string): DrError {
  return new DrError('VERIFY_FAILED', `revlog: segment ${key}: ${why}`, { check, key: m.stored.key });
}

async function checkStored(
  backend: Backend,
  m: SegmentManifest,
  key: string,
  signal?: AbortSignal,
): Promise<void> {
  const { out, meter } = readThrough(await backend.get(m.stored.key, { signal }), []);
  for await (const chunk of out) void chunk;
  if (meter.sha256 !== m.stored.sha256 || meter.bytes !== m.stored.size)
    throw mismatch(
      m,
      key,
      'segment-stored-sha256',
      `stored object ${m.stored.key} has sha256 ${meter.sha256} (${meter.bytes} bytes), the manifest says ${m.stored.sha256} (${m.stored.size} bytes): replaced or damaged`,
    );
}

/**
 * The records of one segment, checked as described above. ENCRYPTION_KEY_MISSING before any read when the
 * segment is encrypted and no given identity opens it.
 */
export async function* readSegmentRecords(
  backend: Backend,
  seg: ReadSegmentManifest,
  identities?: AgeIdentities | null,
  signal?: AbortSignal,
): AsyncGenerator<RevisionRecord> {
  const m = seg.manifest;
  const what = `revision log segment ${seg.key}`;
  const stages = storedDecoder(m.stored, what, identities);
  try {
    await checkStored(backend, m, seg.key, signal);
  } catch (err) {
    for (const s of stages) s.destroy();
    throw err;
  }
  const decoder = new SegmentDecoder(what);
  const plain = createHash('sha256');
  let expected = BigInt(m.firstRevision);
  let events = 0;
  const { out, meter } = readThrough(await backend.get(m.stored.key, { signal }), stages);
  try {
    for await (const chunk of out) {
      plain.update(chunk as Buffer);
      for (const rec of decoder.push(chunk as Buffer)) {
        if (rec.revision !== expected)
          throw mismatch(
            m,
            seg.key,
            'segment-revisions',
            `record of revision ${rec.revision} where ${expected} was expected`,
          );
        expected++;
        events += rec.events.length;
        yield rec;
      }
    }
  } finally {
    // a consumer that stops early (or a failed check) ends the download and the stages
    out.destroy();
  }
  decoder.end();
  const last = expected - 1n;
  if (last.toString() !== m.lastRevision || decoder.records !== m.revisionCount || events !== m.eventCount)
    throw mismatch(
      m,
      seg.key,
      'segment-revisions',
      `holds revisions ${m.firstRevision}..${last} (${decoder.records} records, ${events} events), the manifest says ${m.firstRevision}..${m.lastRevision} (${m.revisionCount}, ${m.eventCount})`,
    );
  if (meter.sha256 !== m.stored.sha256)
    throw mismatch(
      m,
      seg.key,
      'segment-stored-sha256',
      `stored object ${m.stored.key} changed while it was read`,
    );
  const p = plain.digest('hex');
  if (p !== m.plain.sha256)
    throw mismatch(
      m,
      seg.key,
      'segment-plain-sha256',
      `plain segment sha256 ${p}, the manifest says ${m.plain.sha256}`,
    );
}

export interface RecordRange {
  fromRevision?: bigint;
  toRevision?: bigint;
  /** wall-clock ms, inclusive */
  fromTime?: number;
  toTime?: number;
}

/** The segments that may hold records in the range, in revision order. */
export function segmentsInRange(
  segments: readonly ReadSegmentManifest[],
  r: RecordRange,
): ReadSegmentManifest[] {
  return segments
    .filter((s) => {
      const m = s.manifest;
      if (r.fromRevision !== undefined && BigInt(m.lastRevision) < r.fromRevision) return false;
      if (r.toRevision !== undefined && BigInt(m.firstRevision) > r.toRevision) return false;
      if (r.fromTime !== undefined && Date.parse(m.lastTime) < r.fromTime) return false;
      if (r.toTime !== undefined && Date.parse(m.firstTime) > r.toTime) return false;
      return true;
    })
    .sort((a, b) => (BigInt(a.manifest.firstRevision) < BigInt(b.manifest.firstRevision) ? -1 : 1));
}

export function recordInRange(rec: RevisionRecord, r: RecordRange): boolean {
  return (
    (r.fromRevision === undefined || rec.revision >= r.fromRevision) &&
    (r.toRevision === undefined || rec.revision <= r.toRevision) &&
    (r.fromTime === undefined || rec.receivedAt >= r.fromTime) &&
    (r.toTime === undefined || rec.receivedAt <= r.toTime)
  );
}
