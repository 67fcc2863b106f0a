#!/usr/bin/env node
/**
 * node scripts/zstd-levels.mjs SNAPSHOT.db [MiB=256] [levels=3,1,-1]
 * CPU time and compression ratio of zstd levels on a slice of a real snapshot (from its middle), one thread,
 * 1 MiB frames with dr's window and checksum. This is how the default level (src/pipeline/compression.ts)
 * was chosen.
 */
import { openSync, readSync, fstatSync } from 'node:fs';
import { Compressor } from 'zstd-napi';

const [file, mib = '256', levelList = '3,1,-1'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/zstd-levels.mjs SNAPSHOT.db [MiB] [levels]');
  process.exit(2);
}
const fd = openSync(file, 'r');
const size = fstatSync(fd).size;
const n = Math.min(Number(mib) << 20, size);
const buf = Buffer.allocUnsafe(n);
readSync(fd, buf, 0, n, Math.max(0, Math.floor((size - n) / 2)));
for (const level of levelList.split(',').map(Number)) {
  const c = new Compressor();
  c.setParameters({ compressionLevel: level, windowLog: 20, checksumFlag: true });
  const t0 = process.cpuUsage();
  let out = 0;
  for (let o = 0; o < n; o += 1 << 20) out += c.compress(buf.subarray(o, o + (1 << 20))).length;
  const u = process.cpuUsage(t0);
  const cpu = (u.user + u.system) / 1e6;
  console.log(
    `level ${level}: ${cpu.toFixed(2)} s CPU for ${(n / 2 ** 20).toFixed(0)} MiB, ${(n / 1e6 / cpu).toFixed(0)} MB/s, stored ${((100 * out) / n).toFixed(1)} %`,
  );
}
