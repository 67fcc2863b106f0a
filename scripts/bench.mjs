#!/usr/bin/env node
/**
 * npm run bench: measures dr against the baselines named in the issues, in one run, on this machine.
 *
 *   mtls     the headline: `dr backup` to file:// vs `etcdctl snapshot save` of the same db over mTLS with
 *            client certificates (how etcd is run), at 1 GiB and 2 GiB: wall time, CPU time of each client,
 *            dr's peak RSS
 *   backup   `dr backup` to file:// and to s3 (s3rver) vs `etcdctl snapshot save` of the same db over plain
 *            HTTP (1 GiB), and dr's peak RSS at 1 GiB and at 2 GiB (memory must not grow with db size)
 *   encrypt  `dr backup --encrypt-to` (age) vs the same `dr backup` unencrypted, both to file:// over plain HTTP
 *            (1 GiB), interleaved in the same run; and `dr fetch --identity` vs `dr fetch` of the two backups
 *   audit    `dr audit --data-dir` of the member's data dir (1 GiB db + its WAL): time, MB/s, peak RSS
 *   restore  `dr restore --to new-cluster` of a 3-member cluster from the 1 GiB backup vs the same work by hand
 *            (the stored object decompressed with zstd and its sha256 checked, etcdutl/etcdctl snapshot restore
 *            x3, then starting the members), each timed from the stored backup to "every member healthy"
 *   revlog   the revision log (scripts/bench-revlog.mjs): RPO p50/p99 under a steady 1,000 writes/s on the bench
 *            member with `dr log follow` running, and the write throughput and p99 latency with and without it
 *   replay   point in time (scripts/bench-replay.mjs): a backup of the 1 GiB member, 100,000 logged revisions after
 *            it, then `dr fetch --revision <last>` (backup + log replayed into a throwaway member, checkpoints
 *            proved, snapshotted): time, replay revisions/s, peak RSS; vs `dr fetch` of the base backup alone
 *   drill    `dr drill --backup ID` (1 member: restore into a throwaway member, verify revision, keys and HashKV
 *            against the backup, remove it) vs the same drill by hand (zstd -d + sha256sum of the stored object,
 *            snapshot restore, start, wait healthy,
 *            `etcdctl endpoint status` + `endpoint hashkv`, stop, remove), each timed to "verified and removed"
 *
 * etcd is 3.5 (what users run) when scripts/setup.sh installed it in .tools/, else the etcd on PATH; the
 * report names the version.
 *
 * The member serves the same db on two client URLs: plain http, and https with --client-cert-auth
 * (certificates made here with openssl: an EC P-256 CA, server and client certificate, as cfssl makes them).
 *
 * The db is filled with Kubernetes-like objects: JSON ConfigMaps and Secrets of varied sizes under /registry/.
 * Results go to stdout (a table) and .bench/results.json. Set BENCH_GIB=0.25 for a quick rehearsal; set
 * BENCH_SKIP=restore,drill,audit,2g,mtls,encrypt,revlog,replay to leave parts out; BENCH_REPS (default 5) runs of each backup and
 * BENCH_RESTORE_REPS (default 2) of each restore, interleaved.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, statSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const etcd35 = path.join(root, '.tools/etcd-3.5.16/usr/bin');
if (existsSync(path.join(etcd35, 'etcd'))) process.env.PATH = `${etcd35}${path.delimiter}${process.env.PATH}`;
const dist = (p) => path.join(root, 'dist', p);
const { createEtcdClient } = await import(dist('etcd/client.js'));
const { startMember, stopMember, waitHealthy } = await import(dist('etcd/member-process.js'));
const { revlogRound, revlogLines } = await import('./bench-revlog.mjs');
const { replayRound, replayLines, txnPathRound, txnPathLines } = await import('./bench-replay.mjs');

const GIB = 1024 ** 3;
const target = Number(process.env.BENCH_GIB ?? '1') * GIB;
const skip = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
const work = path.join(root, '.bench');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const results = {
  machine: { cores: (await import('node:os')).cpus().length, node: process.version },
  etcd: (await runQuiet('etcd', ['--version'])).match(/etcd Version: (\S+)/)?.[1] ?? 'unknown',
  targetBytes: target,
};
const log = (...a) => console.error('[bench]', ...a);

/** stdout of a short command (no timing) */
function runQuiet(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

/** etcd's own restore tool as an operator would use it: etcdutl (3.5+) when installed, else etcdctl (3.4) */
const restoreTool = (await runQuiet('etcdutl', ['version']).catch(() => '')) ? 'etcdutl' : 'etcdctl';

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** bash's `times` line for its children ("0m1.234s 0m0.567s": user, system) in seconds */
function childCpuSeconds(err) {
  const m = err
    .trimEnd()
    .split('\n')
    .at(-1)
    .match(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/);
  if (!m) throw new Error(`no CPU times in: ${err.slice(-200)}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

/**
 * Runs a command; with `cpu: true`, under bash, whose `times` (printed last on stderr) gives the CPU the
 * command used (user + system, its own children included), returned as cpuSeconds.
 */
function run(cmd, args, { cpu = false, ...opts } = {}) {
  if (cpu) {
    const script = '"$@"; s=$?; times >&2; exit $s';
    return run('bash', ['-c', script, 'bash', cmd, ...args], opts).then((r) => ({
      ...r,
      cpuSeconds: childCpuSeconds(r.err),
    }));
  }
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`));
      else resolve({ seconds, out, err });
    });
  });
}

/** The node flags on dist/cli/dr.js's `#!/usr/bin/env -S node ...` line: dr runs with them as its bin does. */
const drNodeFlags = (readFileSync(dist('cli/dr.js'), 'utf8').split('\n', 1)[0] ?? '')
  .split(/\s+/)
  .filter((w) => w.startsWith('--'));

/** Runs dr with the RSS probe; returns wall seconds, peak RSS bytes and parsed JSON output. */
async function dr(args, env = {}, { cpu = false } = {}) {
  const rssFile = path.join(work, `rss-${Date.now()}-${Math.random()}`);
  const r = await run(
    process.execPath,
    [
      ...drNodeFlags,
      '--import',
      path.join(root, 'scripts/rss-probe.mjs'),
      dist('cli/dr.js'),
      ...args,
      '--json',
    ],
    {
      cpu,
      env: { ...process.env, DR_CATALOG: path.join(work, 'catalog.sqlite'), DR_RSS_FILE: rssFile, ...env },
    },
  );
  const rss = Number(readFileSync(rssFile, 'utf8'));
  rmSync(rssFile);
  return { ...r, rss, json: JSON.parse(r.out) };
}

// ---- certificates for mTLS (EC P-256, as cfssl makes them) --------------------------------------------------
function makeCerts() {
  const dir = path.join(work, 'certs');
  mkdirSync(dir);
  const openssl = (args) => run('openssl', args, { cwd: dir });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const leaf = async (name, cn, ext) => {
    writeFileSync(path.join(dir, `${name}.ext`), ext);
    await openssl(['req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    await openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
        '-out',
        `${name}.crt`,
        '-days',
        '30',
        '-extfile',
        `${name}.ext`,
      ]),
    );
  };
  return (async () => {
    await openssl(
      [
        'req',
        '-x509',
        ...newKey,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '30',
        '-subj',
        '/CN=bench-ca',
      ].concat([
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]),
    );
    const usage = 'keyUsage=critical,digitalSignature,keyEncipherment\n';
    await leaf(
      'server',
      'localhost',
      `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n${usage}`,
    );
    await leaf('client', 'bench-client', `extendedKeyUsage=clientAuth\n${usage}`);
    const f = (n) => path.join(dir, n);
    return {
      ca: f('ca.crt'),
      serverCert: f('server.crt'),
      serverKey: f('server.key'),
      cert: f('client.crt'),
      key: f('client.key'),
    };
  })();
}
const certs = await makeCerts();
/** the client side of mTLS, as etcdctl and dr take it */
const tlsFlags = ['--cacert', certs.ca, '--cert', certs.cert, '--key', certs.key];

// ---- a single etcd member with room for 2+ GiB, on a plain and an mTLS client URL --------------------------
async function startEtcd(name, dataDir) {
  const [cp, pp, tp] = [await freePort(), await freePort(), await freePort()];
  const clientUrl = `http://127.0.0.1:${cp}`;
  const tlsUrl = `https://127.0.0.1:${tp}`;
  const peerUrl = `http://127.0.0.1:${pp}`;
  const m = startMember({
    name,
    dataDir,
    clientUrl,
    peerUrl,
    initialCluster: `${name}=${peerUrl}`,
    initialClusterToken: `bench-${name}`,
    initialClusterState: 'new',
    logFile: `${dataDir}.log`,
    extraArgs: [
      '--quota-backend-bytes',
      String(8 * GIB),
      '--snapshot-count',
      '1000000',
      '--auto-compaction-retention',
      '0',
      // the same db on both URLs (the later flags win); --client-cert-auth applies to the https one
      '--listen-client-urls',
      `${clientUrl},${tlsUrl}`,
      '--advertise-client-urls',
      `${clientUrl},${tlsUrl}`,
    ],
    tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca, clientCertAuth: true },
  });
  await waitHealthy(clientUrl, { timeoutMs: 60_000 });
  return { m, clientUrl, tlsUrl };
}

// ---- Kubernetes-like objects -------------------------------------------------------------------------------
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
function word(n, seed) {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[(seed * 31 + i * 7) % alphabet.length];
  return s;
}
function configMap(ns, i) {
  // 1..12 KiB of config text: partly repetitive (compressible) like real ones, partly unique
  const size = 1024 + ((i * 2654435761) % (11 * 1024));
  const unique = randomBytes(Math.floor(size / 8)).toString('base64');
  return JSON.stringify({
    kind: 'ConfigMap',
    apiVersion: 'v1',
    metadata: {
      name: `cm-${i}`,
      namespace: ns,
      uid: randomBytes(16).toString('hex'),
      resourceVersion: String(i),
      labels: { app: word(8, i), tier: 'backend' },
    },
    data: {
      'application.yaml': `server:\n  port: 8080\n  name: ${word(12, i)}\n`.repeat(Math.floor(size / 200)),
      checksum: unique,
    },
  });
}
function secret(ns, i) {
  // secrets are base64 blobs (certificates, tokens): poorly compressible, 0.5..6 KiB
  const size = 512 + ((i * 40503) % (5.5 * 1024));
  return JSON.stringify({
    kind: 'Secret',
    apiVersion: 'v1',
    type: 'kubernetes.io/tls',
    metadata: { name: `secret-${i}`, namespace: ns, uid: randomBytes(16).toString('hex') },
    data: {
      'tls.crt': randomBytes(Math.floor(size * 0.6)).toString('base64'),
      'tls.key': randomBytes(Math.floor(size * 0.15)).toString('base64'),
    },
  });
}

async function fillTo(clientUrl, bytes, startAt) {
  const client = createEtcdClient({ endpoints: [clientUrl], requestTimeoutMs: 120_000 });
  let i = startAt;
  let written = 0;
  const t0 = Date.now();
  try {
    for (;;) {
      const st = await client.status(clientUrl);
      if (Number(st.dbSize) >= bytes)
        return { next: i, keys: i, dbSize: Number(st.dbSize), seconds: (Date.now() - t0) / 1000, written };
      // 4 concurrent streams of batches keep etcd's apply loop busy
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          const batch = [];
          for (let k = 0; k < 400; k++, i++) {
            const ns = `ns-${i % 50}`;
            const isSecret = i % 3 === 0;
            const value = isSecret ? secret(ns, i) : configMap(ns, i);
            written += value.length;
            batch.push({
              key: `/registry/${isSecret ? 'secrets' : 'configmaps'}/${ns}/${isSecret ? 'secret' : 'cm'}-${i}`,
              value,
            });
          }
          await client.txnPuts(batch);
        }),
      );
      if ((i / 1600) % 50 === 0) log(`filled ${(written / GIB).toFixed(2)} GiB of values, ${i} keys`);
    }
  } finally {
    client.close();
  }
}

async function startS3rver() {
  const require = createRequire(import.meta.url);
  const bin = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
  const dir = path.join(work, 's3rver');
  mkdirSync(dir);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      bin,
      '-d',
      dir,
      '-a',
      '127.0.0.1',
      '-p',
      String(port),
      '-s',
      '--configure-bucket',
      'bench',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`s3rver exited ${c}`)));
  });
  return {
    child,
    url: `s3://bench/b?endpoint=http://127.0.0.1:${port}&region=us-east-1&forcePathStyle=true`,
    env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
  };
}

function dirBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const reps = Number(process.env.BENCH_REPS ?? '5');
const restoreReps = Number(process.env.BENCH_RESTORE_REPS ?? '2');
const mb = (b) => Math.round(b / 1e6);

// ---- the run -----------------------------------------------------------------------------------------------
const dataDir = path.join(work, 'etcd-0');
let etcd = await startEtcd('bench', dataDir);
const s3 = await startS3rver();
try {
  log(`filling etcd to ${(target / GIB).toFixed(2)} GiB`);
  const fill1 = await fillTo(etcd.clientUrl, target, 0);
  results.fill = fill1;
  log(`db ${mb(fill1.dbSize)} MB, ${fill1.keys} keys, in ${fill1.seconds.toFixed(0)} s`);

  /**
   * Wall times on a shared 2-core machine vary by +-10-20 % from one run to the next (etcd's own CPU time for
   * the same snapshot varies as much), so each side runs BENCH_REPS times, interleaved and alternating
   * which goes first, and the ratio is of the medians. Peak RSS is the largest of dr's runs.
   */
  async function backupRound(label) {
    const snapFile = path.join(work, `etcdctl-${label}.db`);
    const base = [];
    const file = [];
    const viaS3 = [];
    let size = 0;
    const etcdctl = async () => {
      const r = await run('etcdctl', ['--endpoints', etcd.clientUrl, 'snapshot', 'save', snapFile], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
      size = statSync(snapFile).size;
      rmSync(snapFile);
      base.push(r.seconds);
    };
    const drFile = async () => {
      file.push(
        await dr([
          'backup',
          '--endpoints',
          etcd.clientUrl,
          '--storage',
          `file://${path.join(work, 'store')}`,
          '--cluster-name',
          'bench',
        ]),
      );
    };
    const drS3 = async () => {
      viaS3.push(
        await dr(
          ['backup', '--endpoints', etcd.clientUrl, '--storage', s3.url, '--cluster-name', 'bench'],
          s3.env,
        ),
      );
    };
    for (let i = 0; i < reps; i++) {
      const order = i % 2 === 0 ? [etcdctl, drFile] : [drFile, etcdctl];
      order.push(drS3);
      for (const step of order) await step();
    }
    const etcdctlSeconds = median(base);
    const drFileSeconds = median(file.map((r) => r.seconds));
    const row = {
      dbBytes: size,
      reps,
      etcdctlSeconds,
      etcdctlRuns: base,
      drFileSeconds,
      drFileRuns: file.map((r) => r.seconds),
      drFileRatio: ratio(drFileSeconds, etcdctlSeconds),
      drFilePeakRssMB: mb(Math.max(...file.map((r) => r.rss))),
      storedBytes: file[0].json.stored.size,
      backupId: file[0].json.id,
    };
    if (viaS3.length) {
      const drS3Seconds = median(viaS3.map((r) => r.seconds));
      Object.assign(row, {
        drS3Seconds,
        drS3Runs: viaS3.map((r) => r.seconds),
        drS3Ratio: ratio(drS3Seconds, etcdctlSeconds),
        drS3PeakRssMB: mb(Math.max(...viaS3.map((r) => r.rss))),
      });
    }
    log(label, JSON.stringify(row));
    return row;
  }
  /**
   * The headline: the same backup over mTLS with client certificates, each side BENCH_REPS times,
   * interleaved and alternating which goes first; medians of wall and CPU time (user + system, from the
   * shell's `times`), dr's peak RSS the largest of its runs.
   */
  async function mtlsRound(label) {
    const snapFile = path.join(work, `etcdctl-mtls-${label}.db`);
    const base = [];
    const mine = [];
    let size = 0;
    const etcdctl = async () => {
      const args = ['--endpoints', etcd.tlsUrl, ...tlsFlags, 'snapshot', 'save', snapFile];
      const r = await run('etcdctl', args, { cpu: true, env: { ...process.env, ETCDCTL_API: '3' } });
      size = statSync(snapFile).size;
      rmSync(snapFile);
      base.push(r);
    };
    const drFile = async () => {
      const store = `file://${path.join(work, 'store-mtls')}`;
      const args = ['backup', '--endpoints', etcd.tlsUrl, ...tlsFlags, '--storage', store];
      mine.push(await dr([...args, '--cluster-name', 'bench-mtls'], {}, { cpu: true }));
    };
    for (let i = 0; i < reps; i++) {
      for (const step of i % 2 === 0 ? [etcdctl, drFile] : [drFile, etcdctl]) await step();
    }
    const etcdctlSeconds = median(base.map((r) => r.seconds));
    const drFileSeconds = median(mine.map((r) => r.seconds));
    const row = {
      dbBytes: size,
      reps,
      etcdctlSeconds,
      etcdctlRuns: base.map((r) => r.seconds),
      etcdctlCpuSeconds: median(base.map((r) => r.cpuSeconds)),
      etcdctlCpuRuns: base.map((r) => r.cpuSeconds),
      drFileSeconds,
      drFileRuns: mine.map((r) => r.seconds),
      drFileCpuSeconds: median(mine.map((r) => r.cpuSeconds)),
      drFileCpuRuns: mine.map((r) => r.cpuSeconds),
      drFileRatio: ratio(drFileSeconds, etcdctlSeconds),
      drFilePeakRssMB: mb(Math.max(...mine.map((r) => r.rss))),
      storedBytes: mine[0].json.stored.size,
    };
    log(`mtls ${label}`, JSON.stringify(row));
    return row;
  }

  /**
   * Encryption's cost: the same dr backup with and without --encrypt-to, BENCH_REPS times each,
   * interleaved and alternating which goes first; the ratio is of the medians. Then the reverse: dr fetch
   * of the newest encrypted backup (with --identity) against dr fetch of the newest plain one.
   */
  async function encryptRound(label) {
    const idFile = path.join(work, 'bench-age.key');
    if (!existsSync(idFile)) await runQuiet('age-keygen', ['-o', idFile]);
    const recipient = (await runQuiet('age-keygen', ['-y', idFile])).trim();
    const store = `file://${path.join(work, 'store-age')}`;
    const base = ['backup', '--endpoints', etcd.clientUrl, '--storage', store];
    const plain = [];
    const sealed = [];
    const drPlain = async () => plain.push(await dr([...base, '--cluster-name', 'bench-plain']));
    const drSealed = async () =>
      sealed.push(await dr([...base, '--cluster-name', 'bench-age', '--encrypt-to', recipient]));
    for (let i = 0; i < reps; i++) {
      for (const step of i % 2 === 0 ? [drPlain, drSealed] : [drSealed, drPlain]) await step();
    }
    const fetchOf = async (id, extra) => {
      const out = path.join(work, `fetch-${id}.db`);
      const r = await dr(['fetch', id, '--storage', store, '--out', out, ...extra]);
      rmSync(out);
      return r;
    };
    const fetchPlain = [];
    const fetchSealed = [];
    for (let i = 0; i < Math.max(1, restoreReps); i++) {
      const a = async () => fetchPlain.push(await fetchOf(plain.at(-1).json.id, []));
      const b = async () => fetchSealed.push(await fetchOf(sealed.at(-1).json.id, ['--identity', idFile]));
      for (const step of i % 2 === 0 ? [a, b] : [b, a]) await step();
    }
    const plainSeconds = median(plain.map((r) => r.seconds));
    const sealedSeconds = median(sealed.map((r) => r.seconds));
    const row = {
      reps,
      dbBytes: sealed[0].json.snapshot.size,
      plainSeconds,
      plainRuns: plain.map((r) => r.seconds),
      encryptedSeconds: sealedSeconds,
      encryptedRuns: sealed.map((r) => r.seconds),
      ratio: ratio(sealedSeconds, plainSeconds),
      plainPeakRssMB: mb(Math.max(...plain.map((r) => r.rss))),
      encryptedPeakRssMB: mb(Math.max(...sealed.map((r) => r.rss))),
      storedBytes: sealed[0].json.stored.size,
      fetchPlainSeconds: median(fetchPlain.map((r) => r.seconds)),
      fetchEncryptedSeconds: median(fetchSealed.map((r) => r.seconds)),
      fetchRatio: ratio(median(fetchSealed.map((r) => r.seconds)), median(fetchPlain.map((r) => r.seconds))),
      fetchEncryptedPeakRssMB: mb(Math.max(...fetchSealed.map((r) => r.rss))),
    };
    log(`encrypt ${label}`, JSON.stringify(row));
    return row;
  }

  if (!skip.has('mtls')) results.mtls = { '1g': await mtlsRound('1g') };
  results.backup = { '1g': await backupRound('1g') };
  if (!skip.has('encrypt')) results.encrypted = { '1g': await encryptRound('1g') };
  if (!skip.has('revlog'))
    results.revlog = await revlogRound({
      clientUrl: etcd.clientUrl,
      work,
      drArgv: [process.execPath, ...drNodeFlags, dist('cli/dr.js')],
      createEtcdClient,
      log,
    });

  if (!skip.has('replay'))
    results.replay = await replayRound({
      clientUrl: etcd.clientUrl,
      store: path.join(work, 'store'),
      work,
      dr: (args) => dr(args),
      drArgv: [process.execPath, ...drNodeFlags, dist('cli/dr.js')],
      createEtcdClient,
      log,
    });
  if (!skip.has('replay'))
    results.txnPath = await txnPathRound({ work, distDir: dist(''), createEtcdClient, log, freePort });

  if (!skip.has('audit')) {
    // the audit reads a stopped member's data dir (a live member keeps writing it)
    await stopMember(etcd.m);
    const walBytes = dirBytes(path.join(dataDir, 'member', 'wal'));
    const dbBytes = statSync(path.join(dataDir, 'member', 'snap', 'db')).size;
    try {
      const a = await dr(['audit', '--data-dir', dataDir]).catch((e) => ({ error: e.message }));
      results.audit = a.error
        ? { error: a.error.slice(0, 500) }
        : {
            dbBytes,
            walBytes,
            seconds: a.seconds,
            mbPerSecond: Math.round((dbBytes + walBytes) / 1e6 / a.seconds),
            peakRssMB: mb(a.rss),
            errors: a.json.summary?.errors,
          };
    } catch (e) {
      results.audit = { error: String(e) };
    }
    log('audit', JSON.stringify(results.audit));
    etcd = await startEtcd('bench', dataDir).catch(async () => {
      // same data dir, same name: etcd restarts on it
      throw new Error('etcd did not restart on its data dir');
    });
  }

  if (!skip.has('restore')) results.restore = await restoreRound(results.backup['1g'].backupId);
  if (!skip.has('drill')) results.drill = await drillRound(results.backup['1g'].backupId);

  if (!skip.has('2g')) {
    log(`filling etcd to ${((2 * target) / GIB).toFixed(2)} GiB`);
    results.fill2 = await fillTo(etcd.clientUrl, 2 * target, fill1.next);
    if (results.mtls) {
      results.mtls['2g'] = await mtlsRound('2g');
      results.mtls.rssGrowth = ratio(results.mtls['2g'].drFilePeakRssMB, results.mtls['1g'].drFilePeakRssMB);
    }
    results.backup['2g'] = await backupRound('2g');
    results.backup.rssGrowth = ratio(
      results.backup['2g'].drFilePeakRssMB,
      results.backup['1g'].drFilePeakRssMB,
    );
    results.backup.s3RssGrowth = ratio(
      results.backup['2g'].drS3PeakRssMB,
      results.backup['1g'].drS3PeakRssMB,
    );
  }
} finally {
  await stopMember(etcd.m).catch(() => undefined);
  s3.child.kill('SIGTERM');
}

/**
 * BENCH_RESTORE_REPS runs of each side, interleaved and alternating which goes first; the ratio is of the
 * medians. byHand returns seconds; withDr returns a dr() result whose JSON says ok.
 */
async function interleaved(byHand, withDr) {
  const hand = [];
  const drRuns = [];
  // Each run writes gigabytes (the fetched snapshot, every member's db); without a sync before it, the next
  // run, whichever side, pays for the kernel writing the previous run's pages back (etcd and the restore
  // tool fsync). Outside the timed part, for both sides alike.
  const settled = async (side) => {
    await run('sync', []);
    return side();
  };
  for (let i = 0; i < restoreReps; i++) {
    if (i % 2 === 0) {
      hand.push(await settled(byHand));
      drRuns.push(await settled(withDr));
    } else {
      drRuns.push(await settled(withDr));
      hand.push(await settled(byHand));
    }
  }
  const manualSeconds = median(hand);
  const drSeconds = median(drRuns.map((r) => r.seconds));
  return {
    reps: restoreReps,
    manualSeconds,
    manualRuns: hand,
    drSeconds,
    drRuns: drRuns.map((r) => r.seconds),
    ratio: ratio(drSeconds, manualSeconds),
    verified: drRuns.every((r) => r.json.ok),
    drPeakRssMB: mb(Math.max(...drRuns.map((r) => r.rss))),
  };
}

/**
 * The operator's fetch of a stored backup, as a by-hand procedure does it: decompress the stored object
 * (`zstd -d`, the object read straight from the file:// store) and check the snapshot's sha256 against the
 * manifest (`sha256sum`). dr's restore and drill start from the same stored object and do the same work
 * (read, decompress, both sha256 checks), so the by-hand side pays for it too.
 */
async function fetchByHand(backupId, out) {
  const store = path.join(work, 'store');
  const mf = readdirSync(store, { recursive: true }).find((f) =>
    String(f).endsWith(`${backupId}.manifest.json`),
  );
  const manifest = JSON.parse(readFileSync(path.join(store, String(mf)), 'utf8'));
  rmSync(out, { force: true });
  await run('bash', ['-c', 'zstd -d -q -c "$1" > "$2"', 'bash', path.join(store, manifest.stored.key), out]);
  const sum = (await run('sha256sum', [out])).out.split(/\s+/)[0];
  if (sum !== manifest.snapshot.sha256)
    throw new Error(`by-hand fetch: sha256 ${sum} != ${manifest.snapshot.sha256}`);
}

async function restoreRound(backupId) {
  const ports = [];
  for (let i = 0; i < 12; i++) ports.push(await freePort());
  const members = (tag, off) =>
    [0, 1, 2].map((i) => ({
      name: `${tag}${i}`,
      peer: `http://127.0.0.1:${ports[off + 2 * i]}`,
      client: `http://127.0.0.1:${ports[off + 2 * i + 1]}`,
      dataDir: path.join(work, 'restore', tag, `${tag}${i}`),
    }));
  const initialCluster = (ms) => ms.map((m) => `${m.name}=${m.peer}`).join(',');
  const manual = members('hand', 0);
  const mine = members('dr', 6);
  const snap = path.join(work, 'restore-source.db');

  // by hand: etcd's restore tool three times, then start the three members, until all are healthy
  async function byHand() {
    rmSync(path.join(work, 'restore', 'hand'), { recursive: true, force: true });
    mkdirSync(path.join(work, 'restore', 'hand'), { recursive: true });
    const t0 = Date.now();
    await fetchByHand(backupId, snap);
    for (const m of manual) {
      await run(
        restoreTool,
        [
          'snapshot',
          'restore',
          snap,
          '--name',
          m.name,
          '--initial-cluster',
          initialCluster(manual),
          '--initial-cluster-token',
          'hand',
          '--initial-advertise-peer-urls',
          m.peer,
          '--data-dir',
          m.dataDir,
        ],
        { env: { ...process.env, ETCDCTL_API: '3' } },
      );
    }
    const procs = manual.map((m) =>
      startMember({
        name: m.name,
        dataDir: m.dataDir,
        clientUrl: m.client,
        peerUrl: m.peer,
        initialCluster: initialCluster(manual),
        initialClusterToken: 'hand',
        initialClusterState: 'existing',
        logFile: `${m.dataDir}.log`,
      }),
    );
    await Promise.all(manual.map((m) => waitHealthy(m.client, { timeoutMs: 300_000 })));
    const seconds = (Date.now() - t0) / 1000;
    await Promise.all(procs.map((p) => stopMember(p)));
    return seconds;
  }

  // dr: from the stored backup (fetch, verify, parallel restores, ordered starts, verification)
  const membersFile = path.join(work, 'members.yaml');
  writeFileSync(
    membersFile,
    'members:\n' +
      mine
        .map(
          (m) =>
            `  - { name: ${m.name}, peerURLs: [${m.peer}], clientURLs: [${m.client}], dataDir: ${m.dataDir}, control: { type: local } }\n`,
        )
        .join(''),
  );
  async function withDr() {
    rmSync(path.join(work, 'restore', 'dr'), { recursive: true, force: true });
    const r = await dr([
      'restore',
      '--to',
      'new-cluster',
      '--backup',
      backupId,
      '--members',
      membersFile,
      '--yes',
      '--storage',
      `file://${path.join(work, 'store')}`,
    ]);
    for (const m of mine) {
      const pidFile = `${m.dataDir}.pid`;
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        try {
          process.kill(pid, 'SIGTERM');
          // wait for it to go, so that the next run can bind the same ports
          for (let i = 0; i < 100; i++) {
            process.kill(pid, 0);
            await new Promise((res) => setTimeout(res, 100));
          }
        } catch {
          /* gone */
        }
      }
    }
    return r;
  }

  const row = await interleaved(byHand, withDr);
  log('restore', JSON.stringify(row));
  return row;
}

/**
 * A restore drill of the 1 GiB backup into one throwaway member. By hand, as an operator scripts it: the
 * stored object decompressed and its sha256 checked (fetchByHand), etcd's restore tool, start the member, wait
 * until it is healthy, read its revision and key count and its HashKV, stop it, remove its data dir. dr:
 * `dr drill` from the stored backup (fetch and sha256 check, restore, start, verification of revision,
 * keys and HashKV against the backup's own, removal).
 */
async function drillRound(backupId) {
  const snap = path.join(work, 'drill-source.db');
  async function byHand() {
    const dir = path.join(work, 'drill-hand');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const [peerPort, clientPort] = [await freePort(), await freePort()];
    const peer = `http://127.0.0.1:${peerPort}`;
    const client = `http://127.0.0.1:${clientPort}`;
    const dataDir = path.join(dir, 'd0');
    const t0 = Date.now();
    await fetchByHand(backupId, snap);
    await run(
      restoreTool,
      [
        'snapshot',
        'restore',
        snap,
        '--name',
        'd0',
        '--initial-cluster',
        `d0=${peer}`,
        '--initial-cluster-token',
        'drill',
        '--initial-advertise-peer-urls',
        peer,
        '--data-dir',
        dataDir,
      ],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    const proc = startMember({
      name: 'd0',
      dataDir,
      clientUrl: client,
      peerUrl: peer,
      initialCluster: `d0=${peer}`,
      initialClusterToken: 'drill',
      initialClusterState: 'existing',
      logFile: path.join(dir, 'd0.log'),
    });
    await waitHealthy(client, { timeoutMs: 300_000 });
    await run('etcdctl', ['--endpoints', client, 'endpoint', 'status', '-w', 'json']);
    await run('etcdctl', ['--endpoints', client, 'get', '', '--prefix', '--count-only', '-w', 'fields']);
    await run('etcdctl', ['--endpoints', client, 'endpoint', 'hashkv', '-w', 'json']);
    await stopMember(proc);
    rmSync(dir, { recursive: true, force: true });
    return (Date.now() - t0) / 1000;
  }
  const withDr = () =>
    dr(['drill', '--backup', backupId, '--members', '1', '--storage', `file://${path.join(work, 'store')}`]);
  const row = await interleaved(byHand, withDr);
  log('drill', JSON.stringify(row));
  return row;
}

// the mTLS rows are the headline: first in the file and in the table
const { mtls, ...rest } = results;
writeFileSync(
  path.join(work, 'results.json'),
  JSON.stringify(mtls ? { headline: 'mtls', mtls, ...rest } : results, null, 2),
);
const b = results.backup['1g'];
const lines = [
  '',
  `etcd-dr benchmark (${results.machine.cores} cores, node ${results.machine.node}, etcd ${results.etcd})`,
];
for (const [label, t] of Object.entries(mtls ?? {}).filter(([, t]) => typeof t === 'object')) {
  lines.push(
    `backup over mTLS (client certificates), ${mb(t.dbBytes)} MB db, to file://, medians of ${t.reps} interleaved runs:`,
    `  etcdctl snapshot save        ${t.etcdctlSeconds.toFixed(2)} s   CPU ${t.etcdctlCpuSeconds.toFixed(2)} s   (baseline)`,
    `  dr backup -> file://         ${t.drFileSeconds.toFixed(2)} s   CPU ${t.drFileCpuSeconds.toFixed(2)} s   ratio ${t.drFileRatio}x   peak RSS ${t.drFilePeakRssMB} MB${label === '2g' ? ` (x${mtls.rssGrowth} of 1g)` : ''}`,
  );
}
lines.push(
  `backup over plain HTTP, ${mb(b.dbBytes)} MB db, ${results.fill.keys} keys:`,
  `  (medians of ${b.reps} interleaved runs each)`,
  `  etcdctl snapshot save        ${b.etcdctlSeconds.toFixed(2)} s   (baseline)`,
  `  dr backup -> file://         ${b.drFileSeconds.toFixed(2)} s   ratio ${b.drFileRatio}x   peak RSS ${b.drFilePeakRssMB} MB   stored ${mb(b.storedBytes)} MB`,
  `  dr backup -> s3 (s3rver)     ${b.drS3Seconds.toFixed(2)} s   ratio ${b.drS3Ratio}x   peak RSS ${b.drS3PeakRssMB} MB`,
);
if (results.backup['2g']) {
  const c = results.backup['2g'];
  lines.push(
    `backup, ${mb(c.dbBytes)} MB db:`,
    `  etcdctl ${c.etcdctlSeconds.toFixed(2)} s, dr file:// ${c.drFileSeconds.toFixed(2)} s (ratio ${c.drFileRatio}x), peak RSS ${c.drFilePeakRssMB} MB (x${results.backup.rssGrowth} of the 1 GiB run)`,
    `  dr s3 (s3rver) ${c.drS3Seconds.toFixed(2)} s (ratio ${c.drS3Ratio}x), peak RSS ${c.drS3PeakRssMB} MB (x${results.backup.s3RssGrowth} of the 1 GiB run)`,
  );
}
if (results.encrypted) {
  const e = results.encrypted['1g'];
  lines.push(
    `encrypted backup (age), ${mb(e.dbBytes)} MB db, to file://, medians of ${e.reps} interleaved runs:`,
    `  dr backup                    ${e.plainSeconds.toFixed(2)} s   peak RSS ${e.plainPeakRssMB} MB   (baseline)`,
    `  dr backup --encrypt-to       ${e.encryptedSeconds.toFixed(2)} s   ratio ${e.ratio}x   peak RSS ${e.encryptedPeakRssMB} MB   stored ${mb(e.storedBytes)} MB`,
    `  dr fetch: plain ${e.fetchPlainSeconds.toFixed(2)} s, encrypted (--identity) ${e.fetchEncryptedSeconds.toFixed(2)} s, ratio ${e.fetchRatio}x, peak RSS ${e.fetchEncryptedPeakRssMB} MB`,
  );
}
if (results.audit)
  lines.push(
    results.audit.error
      ? `audit: not measured (${results.audit.error.split('\n')[0]})`
      : `audit --data-dir: ${mb(results.audit.dbBytes)} MB db + ${mb(results.audit.walBytes)} MB WAL in ${results.audit.seconds.toFixed(2)} s (${results.audit.mbPerSecond} MB/s), peak RSS ${results.audit.peakRssMB} MB`,
  );
if (results.restore)
  lines.push(
    `restore 3 members (medians of ${results.restore.reps} interleaved runs): by hand ${results.restore.manualSeconds.toFixed(2)} s, dr ${results.restore.drSeconds.toFixed(2)} s, ratio ${results.restore.ratio}x, verified ${results.restore.verified}`,
  );
if (results.drill)
  lines.push(
    `drill 1 member (medians of ${results.drill.reps} interleaved runs): by hand ${results.drill.manualSeconds.toFixed(2)} s, dr drill ${results.drill.drSeconds.toFixed(2)} s, ratio ${results.drill.ratio}x, verified ${results.drill.verified}`,
  );
if (results.revlog) lines.push(...revlogLines(results.revlog));
if (results.replay) lines.push(...replayLines(results.replay));
if (results.txnPath) lines.push(...txnPathLines(results.txnPath));
console.log(lines.join('\n'));
