#!/usr/bin/env node
// WAL decode throughput on a synthetic segment (build first: `npx tsc -p tsconfig.json`).
//
//   node scripts/bench-wal.mjs [recordBytes=150] [segmentMB=64] [rounds=5]
//
// Builds one segment of put entries whose walpb.Record is about `recordBytes` long (encodeWalRecords, so the
// CRC chain is real) and times, best of `rounds`:
//   frames   decodeWalSegment alone (framing, walpb.Record, CRC chain)
//   entries  + decodeEntryAt (raftpb.Entry: type, term, index, data view) on every entry record,
//            which is what `dr audit` and `dr inspect wal` do for every record
//   effects  + decodeEntryPayload + entryEffects on every entry (the full request decode, for reference)
// MB/s are segment bytes / seconds (10^6 bytes).
import { performance } from 'node:perf_hooks';
import { T } from '../dist/formats/raft/proto.js';
import { decodeEntryAt, encodeMessage } from '../dist/formats/raft/raft-messages.js';
import { decodeEntryPayload, entryEffects } from '../dist/formats/raft/entry-payload.js';
import { WalRecordType } from '../dist/formats/wal/record-type.js';
import { decodeWalSegment } from '../dist/formats/wal/segment-decoder.js';
import { encodeWalRecords } from '../dist/formats/wal/segment-encoder.js';

const recordBytes = Number(process.argv[2] ?? 150);
const segmentMB = Number(process.argv[3] ?? 64);
const rounds = Number(process.argv[4] ?? 5);

const md = encodeMessage(T.metadata, { nodeId: '16680917395012634450', clusterId: '12345678901234567890' });
function entryBytes(index, valueLen) {
  return encodeMessage(T.entry, {
    type: 0,
    term: 7,
    index: 1_000_000 + index,
    data: encodeMessage(T.irr, {
      header: { id: 0x1234567800000000 + index },
      put: { key: Buffer.from(`/registry/pods/ns/pod-${index}`), value: Buffer.alloc(valueLen, 0x61) },
    }),
  });
}
// find the value length that gives records of about recordBytes
let valueLen = 1;
while (
  T.walRecord.encode({ type: 2, crc: 0xffffffff, data: entryBytes(500000, valueLen + 1) }).finish().length <=
  recordBytes
)
  valueLen++;
const sample = T.walRecord
  .encode({ type: 2, crc: 0xffffffff, data: entryBytes(500000, valueLen) })
  .finish().length;

const recs = [{ type: WalRecordType.Crc }, { type: WalRecordType.Metadata, data: md }];
let approx = 0;
for (let i = 0; approx < segmentMB * 1e6; i++) {
  const data = entryBytes(i, valueLen);
  recs.push({ type: WalRecordType.Entry, data });
  approx += data.length + 24;
}
const { bytes } = encodeWalRecords(recs);
const recordCount = recs.length;
const entryCount = recordCount - 2;
recs.length = 0; // the input records would otherwise weigh on every GC of the timed runs

function time(label, onRecord) {
  let best = Infinity;
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    n = 0;
    const t0 = performance.now();
    const res = decodeWalSegment(
      bytes,
      { isLast: true },
      onRecord ? (rec) => (n += onRecord(rec)) : undefined,
    );
    const dt = (performance.now() - t0) / 1000;
    if (res.problems.length || res.records !== recordCount) throw new Error(`${label}: decode went wrong`);
    best = Math.min(best, dt);
  }
  const mbs = bytes.length / 1e6 / best;
  console.log(
    `${label.padEnd(8)} ${mbs.toFixed(0).padStart(5)} MB/s  ${(recordCount / best / 1e6).toFixed(2)} M records/s  (best of ${rounds}: ${(best * 1000).toFixed(0)} ms)`,
  );
  return mbs;
}

console.log(
  `segment ${(bytes.length / 1e6).toFixed(1)} MB, ${entryCount} entry records of ~${sample} bytes (walpb.Record), node ${process.version}`,
);
time('frames');
time('entries', (rec) => {
  if (rec.type !== WalRecordType.Entry) return 0;
  const e = decodeEntryAt(bytes, rec.dataOffset, rec.dataLength);
  return e.index > 0n ? 1 : 0;
});
time('effects', (rec) => {
  if (rec.type !== WalRecordType.Entry) return 0;
  const fx = entryEffects(decodeEntryPayload(decodeEntryAt(bytes, rec.dataOffset, rec.dataLength)));
  return fx.puts.length;
});
