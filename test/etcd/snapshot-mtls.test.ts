/**
 * The snapshot stream over mTLS (how etcd is run: --client-cert-auth, openssl-made certificates), for a db
 * several times the call's HTTP/2 flow-control window, read slowly enough that the call is paused along the
 * way, and compared with what `etcdctl snapshot save` writes over the same mTLS.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyEtcdError } from '../../src/etcd/classify-error.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import {
  DEFAULT_WINDOW_BYTES,
  startSnapshotCall,
  type SnapshotCallError,
} from '../../src/etcd/snapshot-call.js';
import { readTlsMaterial } from '../../src/etcd/tls-credentials.js';
import type { TlsFiles } from '../../src/etcd/types.js';
import { bufferSource } from '../../src/formats/byte-source.js';
import { readMetas, type MetaPage } from '../../src/formats/bbolt/meta.js';
import { makeTestCerts, mtlsClient, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdAtLeast } from '../helpers/etcd-version.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Reads the way a slow upload does: a short wait every 16 chunks (4 MiB), so the call is paused. */
async function collectSlowly(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of s) {
    chunks.push(chunk as Buffer);
    if (chunks.length % 16 === 0) await new Promise((r) => setTimeout(r, 50));
  }
  return Buffer.concat(chunks);
}

function currentMeta(db: Buffer): MetaPage {
  const m = readMetas(bufferSource(db));
  expect(m.current).not.toBeNull();
  return m.metas[m.current!]!;
}

describe('snapshot over mTLS with --client-cert-auth, larger than the flow-control window', () => {
  let certs: TestCerts;
  let c: TestCluster;
  let client: EtcdClient;
  beforeAll(async () => {
    certs = await makeTestCerts();
    // etcdctl runs with the client certificate dr uses, not the server's
    c = await startTestCluster({ size: 1, tls: mtlsServer(certs), clientTls: mtlsClient(certs) });
    client = createEtcdClient({ endpoints: c.endpoints, ...mtlsClient(certs) });
  });
  afterAll(async () => {
    client?.close();
    await c?.stop();
    await certs?.cleanup();
  });

  it('streams the bytes `etcdctl snapshot save` writes over the same mTLS', async () => {
    // ~16 MiB of values: four windows, so the db is over three windows whatever bbolt's page layout
    // (120 values gave a db a few KiB either side of three windows)
    const value = Buffer.alloc(100 * 1024, 'm');
    await client.txnPuts(Array.from({ length: 160 }, (_, i) => ({ key: `/mtls/${i}`, value })));
    const endpoint = c.endpoints[0]!;
    const ours = await collectSlowly(client.snapshot(endpoint));
    const file = path.join(c.dir, 'etcdctl.db');
    await c.etcdctl(['snapshot', 'save', file], { endpoints: [endpoint] });
    const theirs = await readFile(file);

    expect(ours.length).toBeGreaterThan(3 * DEFAULT_WINDOW_BYTES);
    expect(ours.length).toBe(theirs.length);
    const db = ours.subarray(0, ours.length - 32);
    expect(ours.subarray(ours.length - 32).toString('hex')).toBe(sha256(db));
    if (!etcdAtLeast(3, 5)) {
      // 3.4 commits the backend only when something changed: two snapshots of an idle member are the same
      expect(sha256(ours)).toBe(sha256(theirs));
      return;
    }
    // 3.5 commits at every snapshot (it saves the consistent index each time), which writes the root
    // bucket's page anew, copy-on-write into a free page, and a meta page: every other page must be the
    // same bytes, and the two current root pages the same but for their page id
    const mine = currentMeta(ours);
    const etcdctl = currentMeta(theirs);
    expect(etcdctl.txid).toBeGreaterThan(mine.txid);
    expect(etcdctl.pgid).toBe(mine.pgid);
    const ps = mine.pageSize;
    const page = (b: Buffer, id: number) => b.subarray(id * ps, Math.min(db.length, (id + 1) * ps));
    const differing: number[] = [];
    for (let p = 0; p * ps < db.length; p++) if (!page(ours, p).equals(page(theirs, p))) differing.push(p);
    const rewritten = [0, 1, mine.root, etcdctl.root];
    expect(differing.filter((p) => !rewritten.includes(p))).toEqual([]);
    expect(page(ours, mine.root).subarray(8).equals(page(theirs, etcdctl.root).subarray(8))).toBe(true);
  });

  it('fails the call itself, not only grpc-js, with an error classify-error reads as TLS', async () => {
    // the client always asks grpc-js first; this is the snapshot call's own handshake with etcd
    const address = c.endpoints[0]!.replace('https://', '');
    const callError = (tls: TlsFiles) =>
      new Promise<SnapshotCallError | undefined>((resolve) => {
        const call = startSnapshotCall({
          address,
          secure: true,
          tls: readTlsMaterial(tls),
          dialTimeoutMs: 3000,
        });
        call.on('error', resolve);
        call.on('end', () => resolve(undefined));
      });
    for (const tls of [
      { caFile: certs.caFile, certFile: certs.otherClientCertFile, keyFile: certs.otherClientKeyFile },
      { caFile: certs.caFile },
      { caFile: certs.otherCaFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    ]) {
      const err = await callError(tls);
      expect(err).toMatchObject({ code: 14 });
      expect(classifyEtcdError(err, address, 'snapshot')).toMatchObject({ code: 'ETCD_TLS_FAILED' });
    }
  });
});
