/**
 * The replay row of `npm run bench` (issue "Continuous backup and point-in-time restore"):
 *
 *   replay   a full backup of the bench member (the 1 GiB db), then BENCH_REPLAY_REVISIONS (default 100,000)
 *            writes of 1 KiB values (64 in flight, 5,000 keys overwritten in turn) while `dr log follow` logs
 *            them (5 s segments, a checkpoint every 5 s); then `dr fetch --revision <last>` (the newest backup
 *            at or before it + every logged revision replayed into a throwaway member, checkpoints proved,
 *            snapshotted) vs `dr fetch <base backup>` (the base alone), interleaved, BENCH_REPLAY_REPS runs
 *            each (default 1), medians: the time to a verified point-in-time snapshot, the replay's
 *            revisions per second (dr's own count) and dr's peak RSS. Goal: >= 5,000 revisions/s, memory flat.
 *   txn path the replay's Txn, 10,000 1 KiB puts per run on a fresh member started like the replay member
 *            (--unsafe-no-fsync), one at a time through dr's grpc-js client (`client.txn`) and through
 *            src/etcd/txn-session.ts (Node's http2) over TCP and over a Unix socket, and through the replay's
 *            own pipeline (src/replay/txn-pipeline.ts: REPLAY_WINDOW guarded transactions in flight, a
 *            connection each, over the socket), BENCH_REPLAY_REPS + 1 runs each, interleaved: revisions/s, the
 *            client's CPU per call, and the share of transactions the pipeline sent twice. Why txn-session.ts
 *            exists (its comment), and why the pipeline does (its comment).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { drNodeFlagsOf, startFollower } from './bench-revlog.mjs';
import path from 'node:path';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function committedThrough(store, cluster) {
  let top = 0n;
  let names = [];
  try {
    names = readdirSync(path.join(store, cluster, 'log'));
  } catch {
    return top;
  }
  for (const n of names) {
    const m = /^\d{20}-(\d{20})\.manifest\.json$/.exec(n);
    if (m && BigInt(m[1]) > top) top = BigInt(m[1]);
  }
  return top;
}

async function writeRevisions(client, n) {
  const value = 'r'.repeat(1024);
  let next = 0;
  let last = 0n;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const rev = await client.put(`/bench-replay/${i % 5000}`, value);
      if (rev > last) last = rev;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, worker));
  return { last, seconds: (performance.now() - t0) / 1000 };
}

/** dr(args) runs the built CLI with --json and returns { seconds, rss, json }. */
export async function replayRound({ clientUrl, store, work, dr, drArgv, createEtcdClient, log }) {
  const n = Number(process.env.BENCH_REPLAY_REVISIONS ?? '100000');
  const reps = Number(process.env.BENCH_REPLAY_REPS ?? '1');
  const cluster = 'bench-replay';
  const storeUrl = `file://${store}`;
  const where = ['--endpoints', clientUrl, '--storage', storeUrl, '--cluster-name', cluster];
  const base = await dr(['backup', ...where]);
  const baseId = base.json.id;
  const client = createEtcdClient({ endpoints: [clientUrl] });
  const f = startFollower(drArgv, [...where, '--checkpoint-every', '5']);
  let written;
  try {
    log(`replay: writing ${n} revisions after backup ${baseId}`);
    written = await writeRevisions(client, n);
    const t = Date.now();
    while (committedThrough(store, cluster) < written.last) {
      if (Date.now() - t > 300_000)
        throw new Error(`the log did not commit revision ${written.last}: ${f.err()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await f.stop();
    client.close();
  }
  const pit = [];
  const plain = [];
  const out = path.join(work, 'replay-out.db');
  const fetchPit = async () => {
    rmSync(out, { force: true });
    pit.push(
      await dr([
        'fetch',
        '--revision',
        written.last.toString(),
        '--cluster-name',
        cluster,
        '--storage',
        storeUrl,
        '--out',
        out,
      ]),
    );
    rmSync(out, { force: true });
  };
  const fetchBase = async () => {
    rmSync(out, { force: true });
    plain.push(await dr(['fetch', baseId, '--storage', storeUrl, '--out', out]));
    rmSync(out, { force: true });
  };
  for (let i = 0; i < reps; i++)
    for (const step of i % 2 === 0 ? [fetchBase, fetchPit] : [fetchPit, fetchBase]) await step();
  const report = pit[0].json.pointInTime;
  const row = {
    revisions: Number(written.last - BigInt(base.json.snapshot.revision)),
    writeSeconds: written.seconds,
    baseBytes: base.json.snapshot.size,
    reps,
    pointInTimeSeconds: median(pit.map((r) => r.seconds)),
    pointInTimeRuns: pit.map((r) => r.seconds),
    baseFetchSeconds: median(plain.map((r) => r.seconds)),
    replaySeconds: median(pit.map((r) => r.json.pointInTime.replayed.durationMs / 1000)),
    revisionsPerSecond: median(pit.map((r) => r.json.pointInTime.revisionsPerSecond)),
    checkpointsProved: report.replayed.checkpoints.filter((c) => c.ok).length,
    unprovedFrom: report.unprovedFrom,
    etcd: report.etcdVersion,
    peakRssMB: Math.round(Math.max(...pit.map((r) => r.rss)) / 1e6),
    baseFetchPeakRssMB: Math.round(Math.max(...plain.map((r) => r.rss)) / 1e6),
  };
  log('replay', JSON.stringify(row));
  return row;
}

/** Sequential Txns through the grpc-js client and through txn-session.ts on a throwaway member. */
export async function txnPathRound({ work, distDir, createEtcdClient, log, freePort }) {
  const { startMember, stopMember, waitHealthy } = await import(path.join(distDir, 'etcd/member-process.js'));
  const { openTxnSession } = await import(path.join(distDir, 'etcd/txn-session.js'));
  const { TxnPipeline } = await import(path.join(distDir, 'replay/txn-pipeline.js'));
  const { REPLAY_WINDOW } = await import(path.join(distDir, 'replay/apply-revisions.js'));
  const reps = Number(process.env.BENCH_REPLAY_REPS ?? '1') + 1;
  const n = 10_000;
  const [cp, pp] = [await freePort(), await freePort()];
  const dataDir = path.join(work, 'txn-path-member');
  rmSync(dataDir, { recursive: true, force: true });
  const m = startMember({
    name: 'txnpath',
    dataDir,
    // TCP on loopback and a Unix socket (as the replay member listens) in the work folder (etcd's cwd)
    clientUrl: `http://127.0.0.1:${cp},unix://txnpath-client:1`,
    cwd: work,
    peerUrl: `http://127.0.0.1:${pp}`,
    initialCluster: `txnpath=http://127.0.0.1:${pp}`,
    initialClusterToken: 'txnpath',
    initialClusterState: 'new',
    logFile: path.join(work, 'txn-path-etcd.log'),
    extraArgs: ['--unsafe-no-fsync'],
    env: { ...process.env, GOMAXPROCS: process.env.DR_REPLAY_GOMAXPROCS ?? '1' },
  });
  const url = `http://127.0.0.1:${cp}`;
  const value = Buffer.alloc(1024, 't');
  const runs = { grpc: [], http2: [], unix: [], pipelined: [] };
  let resent = 0;
  try {
    await waitHealthy(url, { timeoutMs: 60_000 });
    const client = createEtcdClient({ endpoints: [url] });
    const session = await openTxnSession(url);
    const socketUrl = `unix://${path.resolve(work, 'txnpath-client:1')}`;
    const unixSession = await openTxnSession(socketUrl);
    // the replay's own path: REPLAY_WINDOW guarded transactions in flight, a connection each
    const pipeSession = await openTxnSession(socketUrl, { connections: REPLAY_WINDOW });
    const one = async (name, txn, end = async () => undefined) => {
      const u0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < n; i++)
        await txn([{ type: 'put', key: Buffer.from(`/txn-path/${i % 5000}`), value, lease: 0n }]);
      await end();
      const seconds = (performance.now() - t0) / 1000;
      const u = process.cpuUsage(u0);
      runs[name].push({ perSecond: n / seconds, cpuMicrosPerCall: (u.user + u.system) / n });
    };
    const grpc = () => one('grpc', (ops) => client.txn(url, ops));
    const h2 = () => one('http2', (ops) => session.txn(ops));
    const unix = () => one('unix', (ops) => unixSession.txn(ops));
    const pipelined = async () => {
      const from = (await client.status(url)).revision;
      const p = new TxnPipeline((ops, guard) => pipeSession.txn(ops, guard), REPLAY_WINDOW, from);
      let prev = null;
      let next = from + 1n;
      await one('pipelined', async (ops) => {
        await p.push(next++, ops, prev);
        prev = ops[0].key;
      }, () => p.drain());
      resent += p.resent;
    };
    for (let i = 0; i < reps; i++)
      for (const step of i % 2 === 0 ? [grpc, h2, unix, pipelined] : [pipelined, unix, h2, grpc]) await step();
    session.close();
    unixSession.close();
    pipeSession.close();
    client.close();
  } finally {
    await stopMember(m);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const row = {
    txnsPerRun: n,
    reps,
    grpcPerSecond: Math.round(median(runs.grpc.map((r) => r.perSecond))),
    http2PerSecond: Math.round(median(runs.http2.map((r) => r.perSecond))),
    grpcCpuMicrosPerCall: Math.round(median(runs.grpc.map((r) => r.cpuMicrosPerCall))),
    http2CpuMicrosPerCall: Math.round(median(runs.http2.map((r) => r.cpuMicrosPerCall))),
    unixPerSecond: Math.round(median(runs.unix.map((r) => r.perSecond))),
    unixCpuMicrosPerCall: Math.round(median(runs.unix.map((r) => r.cpuMicrosPerCall))),
    window: REPLAY_WINDOW,
    pipelinedPerSecond: Math.round(median(runs.pipelined.map((r) => r.perSecond))),
    pipelinedCpuMicrosPerCall: Math.round(median(runs.pipelined.map((r) => r.cpuMicrosPerCall))),
    pipelinedResentShare: Math.round((resent / (n * reps)) * 1000) / 1000,
  };
  row.pipelineSpeedup = Math.round((row.pipelinedPerSecond / row.unixPerSecond) * 100) / 100;
  row.speedup = Math.round((row.http2PerSecond / row.grpcPerSecond) * 100) / 100;
  log('txn path', JSON.stringify(row));
  return row;
}

export function txnPathLines(r) {
  return [
    `replay txn path (${r.txnsPerRun} sequential 1 KiB puts, ${r.reps} interleaved runs each, etcd --unsafe-no-fsync, GOMAXPROCS=1): grpc-js ${r.grpcPerSecond}/s (${r.grpcCpuMicrosPerCall} µs CPU a call), node:http2 txn-session ${r.http2PerSecond}/s (${r.http2CpuMicrosPerCall} µs), ${r.speedup}x; the same over a Unix socket (the replay member's) ${r.unixPerSecond}/s (${r.unixCpuMicrosPerCall} µs); the replay's pipeline over the socket (${r.window} guarded in flight, a connection each) ${r.pipelinedPerSecond}/s (${r.pipelinedCpuMicrosPerCall} µs), ${r.pipelineSpeedup}x the one-at-a-time socket, ${Math.round(r.pipelinedResentShare * 1000) / 10} % sent twice`,
  ];
}

export function replayLines(r) {
  return [
    `point in time: ${(r.baseBytes / 1e6).toFixed(0)} MB base + ${r.revisions} logged revisions (etcd ${r.etcd}, ${r.reps} run(s)):`,
    `  dr fetch --revision ${r.pointInTimeSeconds.toFixed(1)} s to a verified snapshot (base fetch alone ${r.baseFetchSeconds.toFixed(1)} s); replay ${r.replaySeconds.toFixed(1)} s = ${r.revisionsPerSecond} revisions/s (goal >= 5,000); ${r.checkpointsProved} checkpoints proved${r.unprovedFrom ? `, unproved from ${r.unprovedFrom}` : ''}; peak RSS ${r.peakRssMB} MB (base fetch ${r.baseFetchPeakRssMB} MB)`,
  ];
}

// a quick look without the whole bench: node scripts/bench-replay.mjs http://127.0.0.1:2379
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = path.resolve(path.dirname(process.argv[1]), '..');
  const { createEtcdClient } = await import(path.join(root, 'dist/etcd/client.js'));
  const drNodeFlags = drNodeFlagsOf(root);
  const work = path.join(root, '.bench-replay');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.join(work, 'store'), { recursive: true });
  const drArgv = [process.execPath, ...drNodeFlags, path.join(root, 'dist/cli/dr.js')];
  const dr = (args) =>
    new Promise((resolve, reject) => {
      const rssFile = path.join(work, `rss-${Date.now()}`);
      const t0 = performance.now();
      const p = spawn(
        process.execPath,
        [
          ...drNodeFlags,
          '--import',
          path.join(root, 'scripts/rss-probe.mjs'),
          drArgv.at(-1),
          ...args,
          '--json',
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { ...process.env, DR_RSS_FILE: rssFile, DR_CATALOG: path.join(work, 'catalog.sqlite') },
        },
      );
      let outText = '';
      p.stdout.on('data', (d) => (outText += d));
      p.on('close', (code) => {
        if (code !== 0) return reject(new Error(`dr ${args.join(' ')}: exit ${code}: ${outText}`));
        const rss = Number(readFileSync(rssFile, 'utf8'));
        resolve({ seconds: (performance.now() - t0) / 1000, rss, json: JSON.parse(outText) });
      });
    });
  const r = await replayRound({
    clientUrl: process.argv[2] ?? 'http://127.0.0.1:2379',
    store: path.join(work, 'store'),
    work,
    dr,
    drArgv,
    createEtcdClient,
    log: (...a) => console.error('[bench]', ...a),
  });
  const net = await import('node:net');
  const freePort = () =>
    new Promise((res) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = srv.address().port;
        srv.close(() => res(p));
      });
    });
  const t = await txnPathRound({
    work,
    distDir: path.join(root, 'dist'),
    createEtcdClient,
    log: (...a) => console.error('[bench]', ...a),
    freePort,
  });
  console.log([...replayLines(r), ...txnPathLines(t)].join('\n'));
}
