import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import type { EtcdConnectionOptions } from '../../src/etcd/types.js';
import { makeTestCerts, type TestCerts, mtlsServer } from '../helpers/certs.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

async function errorOf(opts: EtcdConnectionOptions): Promise<DrError> {
  const client = createEtcdClient({ dialTimeoutMs: 3000, requestTimeoutMs: 3000, ...opts });
  try {
    await client.status(client.endpoints[0]!);
  } catch (err) {
    return err as DrError;
  } finally {
    client.close();
  }
  throw new Error('expected the request to fail');
}

describe('etcd client over TLS with --client-cert-auth', () => {
  let certs: TestCerts;
  let c: TestCluster;
  beforeAll(async () => {
    certs = await makeTestCerts();
    c = await startTestCluster({
      size: 1,
      tls: mtlsServer(certs),
    });
  });
  afterAll(async () => {
    await c?.stop();
    await certs?.cleanup();
  });

  it('talks to the member with the right CA and client certificate, without a scheme too', async () => {
    const bare = c.endpoints[0]!.replace('https://', '');
    const client = createEtcdClient({
      endpoints: [bare],
      caFile: certs.caFile,
      certFile: certs.clientCertFile,
      keyFile: certs.clientKeyFile,
    });
    try {
      const s = await client.status(bare);
      expect(s.memberId).toBeGreaterThan(0n);
      const picked = await client.pickSnapshotSource();
      expect(picked.endpoint).toBe(bare);
      const chunks: Buffer[] = [];
      for await (const chunk of client.snapshot(bare)) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).length).toBeGreaterThan(32);
    } finally {
      client.close();
    }
  });

  it('reports a server certificate from an unknown CA as ETCD_TLS_FAILED naming the endpoint', async () => {
    const err = await errorOf({
      endpoints: c.endpoints,
      caFile: certs.otherCaFile,
      certFile: certs.clientCertFile,
      keyFile: certs.clientKeyFile,
    });
    expect(err.code).toBe('ETCD_TLS_FAILED');
    expect(err.message).toContain(c.endpoints[0]);
    expect(err.exitCode).toBe(3);
  });

  it('reports a client certificate the server does not trust as ETCD_TLS_FAILED', async () => {
    const err = await errorOf({
      endpoints: c.endpoints,
      caFile: certs.caFile,
      certFile: certs.otherClientCertFile,
      keyFile: certs.otherClientKeyFile,
    });
    expect(err.code).toBe('ETCD_TLS_FAILED');
    expect(err.message).toContain(c.endpoints[0]);
  });

  it('reports a missing client certificate as ETCD_TLS_FAILED', async () => {
    const err = await errorOf({ endpoints: c.endpoints, caFile: certs.caFile });
    expect(err.code).toBe('ETCD_TLS_FAILED');
  });

  it('fails every endpoint the same way in pickSnapshotSource: keeps the TLS code', async () => {
    const client = createEtcdClient({
      endpoints: [c.endpoints[0]!, `https://localhost:${new URL(c.endpoints[0]!).port}`],
      caFile: certs.otherCaFile,
      certFile: certs.clientCertFile,
      keyFile: certs.clientKeyFile,
      dialTimeoutMs: 3000,
    });
    try {
      await expect(client.pickSnapshotSource()).rejects.toMatchObject({ code: 'ETCD_TLS_FAILED' });
    } finally {
      client.close();
    }
  });

  it('refuses an unreadable CA, certificate or key file with TLS_FILE_UNREADABLE (exit 2) naming it', () => {
    const missing = `${certs.dir}/nope.crt`;
    for (const files of [
      { caFile: missing },
      { caFile: certs.caFile, certFile: missing, keyFile: certs.clientKeyFile },
      { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: missing },
    ]) {
      let err: unknown;
      try {
        createEtcdClient({ endpoints: c.endpoints, ...files });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DrError);
      expect(err).toMatchObject({ code: 'TLS_FILE_UNREADABLE', exitCode: 2 });
      expect((err as Error).message).toContain(missing);
    }
  });

  it('refuses a certificate without its key as a configuration error', () => {
    expect(() =>
      createEtcdClient({ endpoints: c.endpoints, caFile: certs.caFile, certFile: certs.clientCertFile }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
