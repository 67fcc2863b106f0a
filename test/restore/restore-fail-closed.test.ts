/**
 * Fail closed, before the first change: an old-cluster endpoint that answers but cannot be verified is a
 * refusal (liftable only with --force); a target member's port in use, or its data dir held by a running
 * etcd found by its open files and listening port, is a refusal whether or not oldCluster is given (and
 * --force does not lift it); TLS files that etcd would reject at start are refused in the dry run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/manifest/manifest.js';
import { parseMembers } from '../../src/config/members-file.js';
import { prepareRestore } from '../../src/restore/prepare.js';
import { makeTestCerts, mtlsClient, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePorts } from '../helpers/ports.js';
import { makeSnapshotFile } from '../helpers/snapshot-file.js';
import { tempDir } from '../helpers/tmp.js';
import { localTarget, manifestFor } from './helpers.js';

describe('restore fails closed', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: Manifest;
  let certs: TestCerts;
  let cluster: TestCluster | undefined;
  let secure: TestCluster | undefined;
  const servers: (Server | HttpServer)[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    work = await tempDir('dr-closed-');
    certs = await makeTestCerts();
    const snapshot = await makeSnapshotFile(work.dir, { keys: 3 });
    manifest = manifestFor(snapshot, { clusterId: 'deadbeef' });
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    for (const c of children) c.kill('SIGKILL');
    await cluster?.stop();
    await secure?.stop();
    await certs?.cleanup();
    await work?.cleanup();
  });

  it('refuses an old-cluster endpoint that answers but cannot be verified, naming it and the error; --force lifts it', async () => {
    secure = await startTestCluster({ tls: mtlsServer(certs), clientTls: mtlsClient(certs) });
    // something that answers HTTP, but not as etcd: a 401
    const http = createHttpServer((_, res) => res.writeHead(401).end('no'));
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const httpEp = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    const [down] = await freePorts(1);
    const downEp = `http://127.0.0.1:${down}`;
    const base = await localTarget(path.join(work.dir, 'a'), ['o1']);
    const target = parseMembers({
      ...base,
      // a client certificate the old cluster's CA never signed
      clientTls: {
        caFile: certs.caFile,
        certFile: certs.otherClientCertFile,
        keyFile: certs.otherClientKeyFile,
      },
      oldCluster: { endpoints: [secure.endpoints[0]!, httpEp, downEp] },
    });
    const plan = await prepareRestore({ manifest, target, now: new Date() });
    expect(plan.refusals.map((r) => r.code)).toEqual([
      'OLD_CLUSTER_UNVERIFIABLE',
      'OLD_CLUSTER_UNVERIFIABLE',
    ]);
    expect(plan.refusals[0]!.message).toContain(secure.endpoints[0]!);
    expect(plan.refusals[1]!.message).toContain(httpEp);
    expect(plan.refusals[1]!.message).toMatch(/HTTP 401/);
    expect(plan.refusals.every((r) => r.forceable)).toBe(true);
    expect(plan.oldCluster.down).toEqual([downEp]);
    const forced = await prepareRestore({ manifest, target, now: new Date(), force: true });
    expect(forced.refusals).toEqual([]);
    expect(forced.warnings.join('\n')).toContain(secure.endpoints[0]!);
  }, 60_000);

  it('refuses a target port in use and a data dir held by a running etcd, without oldCluster; --force does not lift it', async () => {
    // a healthy cluster already running on the target's ports and data dir; oldCluster points elsewhere (down)
    cluster = await startTestCluster({ size: 1 });
    const m0 = cluster.members[0]!.spec;
    const [down] = await freePorts(1);
    const target = parseMembers({
      timing: { heartbeatInterval: 200, electionTimeout: 2000 },
      oldCluster: { endpoints: [`http://127.0.0.1:${down}`] },
      members: [
        {
          name: 'r1',
          peerURLs: [m0.peerUrl],
          clientURLs: [m0.clientUrl],
          dataDir: m0.dataDir,
          control: { type: 'local' },
        },
      ],
    });
    const etcdPid = cluster.members[0]!.process.pid!;
    const plan = await prepareRestore({ manifest, target, now: new Date(), force: true });
    const inUse = plan.refusals.filter((r) => r.code === 'TARGET_IN_USE');
    expect(inUse.every((r) => !r.forceable && r.member === 'r1')).toBe(true);
    const text = inUse.map((r) => r.message).join('\n');
    expect(text).toContain(
      `port ${new URL(m0.clientUrl).port} (${m0.clientUrl}) is in use by pid ${etcdPid}`,
    );
    expect(text).toContain(`port ${new URL(m0.peerUrl).port} (${m0.peerUrl}) is in use by pid ${etcdPid}`);
    expect(text).toContain(`${m0.dataDir} is held open by running pid ${etcdPid}`);

    // a data dir held only through an open file (no --data-dir on any command line), and a bare port
    const other = await localTarget(path.join(work.dir, 'b'), ['r2']);
    const r2 = other.members[0]!;
    await mkdir(path.join(r2.dataDir, 'member'), { recursive: true });
    const holder = spawn('sh', ['-c', 'exec 3>>"$1/member/held"; exec sleep 300', 'sh', r2.dataDir], {
      stdio: 'ignore',
    });
    children.push(holder);
    const squat = createServer();
    servers.push(squat);
    const peerPort = Number(new URL(r2.peerURLs[0]!).port);
    await new Promise<void>((r) => squat.listen(peerPort, '127.0.0.1', r));
    for (let i = 0; i < 50; i++) {
      const p = await prepareRestore({ manifest, target: other, now: new Date(), force: true });
      const msgs = p.refusals.map((r) => r.message).join('\n');
      if (!msgs.includes('held open')) {
        await new Promise((r) => setTimeout(r, 100)); // the shell has not opened the file yet
        continue;
      }
      expect(p.refusals.map((r) => r.code)).toEqual(['TARGET_IN_USE', 'TARGET_IN_USE']);
      expect(msgs).toContain(`port ${peerPort} (${r2.peerURLs[0]}) is in use by pid ${process.pid}`);
      expect(msgs).toContain(`${r2.dataDir} is held open by running pid ${holder.pid}`);
      return;
    }
    throw new Error('the open file under the data dir was never seen');
  }, 60_000);

  it('reads and checks every member TLS file in the dry run', async () => {
    const [c1, p1, c2, p2] = await freePorts(4);
    const good = mtlsServer(certs);
    const target = parseMembers({
      clientTls: mtlsClient(certs),
      members: [
        {
          name: 't1',
          peerURLs: [`https://127.0.0.1:${p1}`],
          // 127.0.0.2 is not in the server certificate's SANs (127.0.0.1, localhost)
          clientURLs: [`https://127.0.0.2:${c1}`],
          dataDir: path.join(work.dir, 'c', 't1'),
          tls: good,
          // the client key does not belong to the server certificate
          peerTls: { ...good, keyFile: certs.clientKeyFile },
          control: { type: 'local' },
        },
        {
          name: 't2',
          peerURLs: [`https://127.0.0.1:${p2}`],
          clientURLs: [`https://localhost:${c2}`],
          dataDir: path.join(work.dir, 'c', 't2'),
          // a CA that did not sign the certificate; a key file that is not there
          tls: { ...good, caFile: certs.otherCaFile },
          peerTls: { ...good, keyFile: path.join(work.dir, 'missing-key.pem') },
          control: { type: 'local' },
        },
      ],
    });
    const plan = await prepareRestore({ manifest, target, now: new Date(), force: true });
    expect(plan.refusals.every((r) => r.code === 'TLS_FILE_INVALID' && !r.forceable)).toBe(true);
    const msgs = plan.refusals.map((r) => r.message);
    expect(msgs).toHaveLength(4);
    expect(msgs).toContainEqual(
      expect.stringMatching(/member "t1" tls: certificate .*server\.crt does not cover 127\.0\.0\.2/),
    );
    expect(msgs).toContainEqual(
      expect.stringMatching(
        /member "t1" peerTls: certificate .*server\.crt does not match key .*client\.key/,
      ),
    );
    expect(msgs).toContainEqual(
      expect.stringMatching(/member "t2" tls: CA .*other-ca\.crt does not verify certificate/),
    );
    expect(msgs).toContainEqual(
      expect.stringMatching(/member "t2" peerTls keyFile .*missing-key\.pem cannot be read/),
    );
  });
});
