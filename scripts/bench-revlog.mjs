/**
 * The revision log rows of `npm run bench` (issue "Continuous backup and point-in-time restore"):
 *
 *   RPO            a steady load of BENCH_REVLOG_RATE writes/s (default 1000) for BENCH_REVLOG_SECONDS
 *                  (default 20) on the bench member while `dr log follow` writes the log to file://; for
 *                  every write, the time from its commit (the put's answer) to its segment's manifest in
 *                  storage (the manifest file's mtime): p50 and p99. Target: p99 <= 5 s.
 *   watch overhead the same load without the log and with it, interleaved (without, with, with, without):
 *                  writes/s achieved and p99 put latency of each; cost = 1 - with/without (target <= 5 %).
 *
 * The load: every 10 ms a batch of rate/100 puts of 1 KiB values, issued at once on one client; a batch
 * that has not returned when the next is due delays it (the achieved rate then falls below the target,
 * which is what the throughput figure measures).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function load(client, key, rate, seconds) {
  const perBatch = Math.max(1, Math.round(rate / 100));
  const value = 'x'.repeat(1024);
  const writes = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  let next = t0;
  while (performance.now() < end) {
    const batch = [];
    for (let i = 0; i < perBatch; i++) {
      const started = performance.now();
      const k = `${key}/${n++ % 5000}`;
      batch.push(
        client.put(k, value).then((revision) => {
          const done = performance.now();
          writes.push({ revision, latencyMs: done - started, committedAt: performance.timeOrigin + done });
        }),
      );
    }
    await Promise.all(batch);
    next += 10;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const lat = writes.map((w) => w.latencyMs).sort((a, b) => a - b);
  return {
    writes,
    perSecond: writes.length / elapsed,
    p99LatencyMs: pct(lat, 99),
    p50LatencyMs: pct(lat, 50),
  };
}

/** segment manifests in a file:// store: revision range and the time the manifest was written */
function manifestsIn(dir, cluster) {
  const logDir = path.join(dir, cluster, 'log');
  let names = [];
  try {
    names = readdirSync(logDir);
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d{20})-(\d{20})\.manifest\.json$/.exec(n))
    .filter(Boolean)
    .map((m) => ({
      first: BigInt(m[1]),
      last: BigInt(m[2]),
      committedAt: statSync(path.join(logDir, m[0])).mtimeMs,
    }));
}

/** The node flags of the built dr's `#!/usr/bin/env -S node ...` line, so a standalone run starts dr as its bin does. */
export function drNodeFlagsOf(root) {
  return (readFileSync(path.join(root, 'dist/cli/dr.js'), 'utf8').split('\n', 1)[0] ?? '')
    .split(/\s+/)
    .filter((w) => w.startsWith('--'));
}

/** `dr log follow ARGS` as a child; `stop()` sends SIGTERM (the open segment is committed) and waits. */
export function startFollower(drArgv, args) {
  const child = spawn(drArgv[0], [...drArgv.slice(1), 'log', 'follow', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const exited = new Promise((r) => child.on('close', r));
  return {
    err: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function revlogRound({ clientUrl, work, drArgv, createEtcdClient, log }) {
  const rate = Number(process.env.BENCH_REVLOG_RATE ?? '1000');
  const seconds = Number(process.env.BENCH_REVLOG_SECONDS ?? '20');
  const client = createEtcdClient({ endpoints: [clientUrl] });
  const runs = { without: [], with: [] };
  const rpo = [];
  try {
    const without = async () => runs.without.push(await load(client, '/bench-revlog/without', rate, seconds));
    const withLog = async (i) => {
      const store = path.join(work, `revlog-store-${i}`);
      rmSync(store, { recursive: true, force: true });
      mkdirSync(store, { recursive: true });
      const from = (await client.put('/bench-revlog/start', 'x')) + 1n;
      const f = startFollower(drArgv, [
        '--endpoints',
        clientUrl,
        '--storage',
        `file://${store}`,
        '--cluster-name',
        'bench',
        '--from-rev',
        String(from),
        '--checkpoint-every',
        '0',
      ]);
      try {
        // the writer watches once its first segment (the probe write) is committed
        const probe = await client.put('/bench-revlog/probe', 'x');
        const t = Date.now();
        while (!manifestsIn(store, 'bench').some((m) => m.last >= probe)) {
          if (Date.now() - t > 60_000) throw new Error(`dr log follow did not start: ${f.err()}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const r = await load(client, '/bench-revlog/with', rate, seconds);
        runs.with.push(r);
        const last = r.writes.reduce((a, w) => (w.revision > a ? w.revision : a), 0n);
        const t2 = Date.now();
        while (!manifestsIn(store, 'bench').some((m) => m.last >= last)) {
          if (Date.now() - t2 > 60_000)
            throw new Error(`the log did not commit revision ${last}: ${f.err()}`);
          await new Promise((r2) => setTimeout(r2, 100));
        }
        const ms = manifestsIn(store, 'bench').sort((a, b) => (a.first < b.first ? -1 : 1));
        for (const w of r.writes) {
          const m = ms.find((x) => x.first <= w.revision && w.revision <= x.last);
          if (m) rpo.push((m.committedAt - w.committedAt) / 1000);
        }
      } finally {
        await f.stop();
        rmSync(store, { recursive: true, force: true });
      }
    };
    await without();
    await withLog(1);
    await withLog(2);
    await without();
  } finally {
    client.close();
  }
  rpo.sort((a, b) => a - b);
  const w = median(runs.with.map((r) => r.perSecond));
  const wo = median(runs.without.map((r) => r.perSecond));
  const row = {
    targetRate: rate,
    seconds,
    rpoSeconds: { p50: pct(rpo, 50), p99: pct(rpo, 99), max: rpo.at(-1), writes: rpo.length },
    withoutLog: {
      writesPerSecond: wo,
      p99LatencyMs: median(runs.without.map((r) => r.p99LatencyMs)),
      runs: runs.without.map((r) => Math.round(r.perSecond)),
    },
    withLog: {
      writesPerSecond: w,
      p99LatencyMs: median(runs.with.map((r) => r.p99LatencyMs)),
      runs: runs.with.map((r) => Math.round(r.perSecond)),
    },
    throughputCost: Math.round((1 - w / wo) * 1000) / 10,
  };
  log('revlog', JSON.stringify(row));
  return row;
}

export function revlogLines(r) {
  return [
    `revision log under ${r.targetRate} writes/s for ${r.seconds} s (dr log follow to file://, 5 s segments):`,
    `  RPO (write committed -> its segment's manifest stored): p50 ${r.rpoSeconds.p50.toFixed(2)} s, p99 ${r.rpoSeconds.p99.toFixed(2)} s, max ${r.rpoSeconds.max.toFixed(2)} s over ${r.rpoSeconds.writes} writes (target p99 <= 5 s)`,
    `  without the log: ${Math.round(r.withoutLog.writesPerSecond)} writes/s, p99 put ${r.withoutLog.p99LatencyMs.toFixed(1)} ms; with it: ${Math.round(r.withLog.writesPerSecond)} writes/s, p99 put ${r.withLog.p99LatencyMs.toFixed(1)} ms; throughput cost ${r.throughputCost} % (target <= 5 %)`,
  ];
}

// for a quick look without the whole bench: node scripts/bench-revlog.mjs http://127.0.0.1:2379
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(path.dirname(process.argv[1]), '..');
  const { createEtcdClient } = await import(path.join(root, 'dist/etcd/client.js'));
  const drNodeFlags = drNodeFlagsOf(root);
  const work = path.join(root, '.bench-revlog');
  mkdirSync(work, { recursive: true });
  const r = await revlogRound({
    clientUrl: process.argv[2] ?? 'http://127.0.0.1:2379',
    work,
    drArgv: [process.execPath, ...drNodeFlags, path.join(root, 'dist/cli/dr.js')],
    createEtcdClient,
    log: (...a) => console.error('[bench]', ...a),
  });
  console.log(revlogLines(r).join('\n'));
}
