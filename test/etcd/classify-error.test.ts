import { execFileSync } from 'node:child_process';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { aggregateFailures, classifyEtcdError, isInvalidTokenError } from '../../src/etcd/classify-error.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { parseEndpoint } from '../../src/etcd/endpoint.js';
import { makeTestCerts, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });

describe('classifyEtcdError', () => {
  const cases: [number, string, string][] = [
    [
      status.UNAVAILABLE,
      'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1',
      'ETCD_UNREACHABLE',
    ],
    [
      status.UNAVAILABLE,
      'No connection established. Last error: Error: self-signed certificate in certificate chain',
      'ETCD_TLS_FAILED',
    ],
    [
      status.UNAVAILABLE,
      'Last error: SSL routines:ssl3_read_bytes:sslv3 alert bad certificate',
      'ETCD_TLS_FAILED',
    ],
    [
      status.INVALID_ARGUMENT,
      'etcdserver: authentication failed, invalid user ID or password',
      'ETCD_AUTH_FAILED',
    ],
    [status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled', 'ETCD_AUTH_FAILED'],
    [status.INVALID_ARGUMENT, 'etcdserver: user name is empty', 'ETCD_AUTH_FAILED'],
    [status.PERMISSION_DENIED, 'etcdserver: permission denied', 'ETCD_PERMISSION_DENIED'],
    [status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded', 'ETCD_REQUEST_FAILED'],
  ];
  for (const [code, details, expected] of cases) {
    it(`maps ${status[code]} "${details.slice(0, 50)}" to ${expected}, naming the endpoint`, () => {
      const e = classifyEtcdError(grpcError(code, details), 'https://10.0.0.1:2379', 'Maintenance.Status');
      expect(e.code).toBe(expected);
      expect(e.message).toContain('https://10.0.0.1:2379');
      expect(e.details.endpoint).toBe('https://10.0.0.1:2379');
    });
  }

  const REFUSED_CERT = /the server refused the client certificate/;
  const cases48: [string, RegExp][] = [
    // OpenSSL 3 as Node 20 prints the alert the server sent
    ['SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:SSL alert number 42', REFUSED_CERT],
    ['SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:SSL alert number 116', REFUSED_CERT],
    [
      'SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:SSL alert number 48',
      /not signed by a CA the server trusts/,
    ],
    ['SSL routines::tlsv1 alert unknown ca', /not signed by a CA the server trusts/],
    [
      'SSL routines:ssl3_read_bytes:sslv3 alert certificate expired:SSL alert number 45',
      /it has expired or is not yet valid/,
    ],
  ];
  for (const [details, hint] of cases48) {
    it(`names the likely cause of "${details.slice(-40)}"`, () => {
      const e = classifyEtcdError(
        grpcError(status.UNAVAILABLE, `No connection established. Last error: Error: ${details}`),
        'https://10.0.0.1:2379',
        'Maintenance.Status',
      );
      expect(e.code).toBe('ETCD_TLS_FAILED');
      expect(e.message).toMatch(hint);
      expect(e.message).not.toMatch(/TLS handshake failed/);
    });
  }

  it('recognises a rejected token as worth one re-authentication', () => {
    expect(isInvalidTokenError(grpcError(status.UNAUTHENTICATED, 'etcdserver: invalid auth token'))).toBe(
      true,
    );
    expect(isInvalidTokenError(grpcError(status.INVALID_ARGUMENT, 'etcdserver: user name is empty'))).toBe(
      false,
    );
  });

  it('keeps a common code when every endpoint failed the same way, else says unreachable', () => {
    const tls = (e: string) => ({ endpoint: e, error: new DrError('ETCD_TLS_FAILED', `tls ${e}`) });
    const down = (e: string) => ({ endpoint: e, error: new DrError('ETCD_UNREACHABLE', `down ${e}`) });
    const same = aggregateFailures('status', [tls('a:1'), tls('b:2')]);
    expect(same.code).toBe('ETCD_TLS_FAILED');
    const mixed = aggregateFailures('status', [tls('a:1'), down('b:2')]);
    expect(mixed.code).toBe('ETCD_UNREACHABLE');
    expect(mixed.message).toContain('a:1');
    expect(mixed.message).toContain('b:2');
  });
});

describe('parseEndpoint', () => {
  it('defaults the scheme from the TLS configuration and the port to 2379', () => {
    expect(parseEndpoint('10.0.0.1:2379', false)).toEqual({
      display: '10.0.0.1:2379',
      address: '10.0.0.1:2379',
      secure: false,
    });
    expect(parseEndpoint('10.0.0.1:2379', true).secure).toBe(true);
    expect(parseEndpoint('http://h', true)).toMatchObject({ address: 'h:2379', secure: false });
    expect(parseEndpoint('https://[::1]:3000', false)).toMatchObject({ address: '[::1]:3000', secure: true });
  });

  it('takes unix:// and unixs:// sockets by absolute path, and refuses a relative one', () => {
    expect(parseEndpoint('unix:///tmp/d/client:1', false)).toEqual({
      display: 'unix:///tmp/d/client:1',
      address: 'unix:/tmp/d/client:1',
      secure: false,
      socketPath: '/tmp/d/client:1',
    });
    expect(parseEndpoint('unixs:///tmp/d/client:1', false)).toMatchObject({ secure: true });
    expect(() => parseEndpoint('unix://localhost:2379', false)).toThrow(/unix:\/\/\/absolute\/path/);
  });

  it('never shows credentials embedded in an endpoint', () => {
    expect(parseEndpoint('https://u:secret@h:1', false).display).not.toContain('secret');
  });
});

/** the etcd binary the tests run (PATH decides: ETCD_BIN_DIR in CI), e.g. "3.5.16" */
function etcdVersion(): string {
  const out = execFileSync('etcd', ['--version'], { encoding: 'utf8' });
  return /etcd Version: (\S+)/.exec(out)![1]!;
}

describe('a client certificate from another CA, against a real member', () => {
  let certs: TestCerts;
  let c: TestCluster;
  beforeAll(async () => {
    certs = await makeTestCerts();
    c = await startTestCluster({ size: 1, tls: mtlsServer(certs) });
  });
  afterAll(async () => {
    await c?.stop();
    await certs?.cleanup();
  });

  it('is ETCD_TLS_FAILED with the hint that the server refused the client certificate', async () => {
    const client = createEtcdClient({
      endpoints: c.endpoints,
      caFile: certs.caFile,
      certFile: certs.otherClientCertFile,
      keyFile: certs.otherClientKeyFile,
      dialTimeoutMs: 3000,
      requestTimeoutMs: 3000,
    });
    let err: DrError | undefined;
    try {
      await client.status(c.endpoints[0]!);
    } catch (e) {
      err = e as DrError;
    } finally {
      client.close();
    }
    expect(err).toBeInstanceOf(DrError);
    expect(err!.code).toBe('ETCD_TLS_FAILED');
    expect(err!.exitCode).toBe(3);
    expect(err!.message).toContain(c.endpoints[0]);
    expect(err!.message).toMatch(/the server refused the client certificate/);
    expect(err!.message).not.toMatch(/TLS handshake failed/);
    // the alert each version sends: etcd 3.4 (Go 1.12-1.16) "bad certificate" (42), 3.5 "unknown ca" (48)
    if (etcdVersion().startsWith('3.5.')) expect(err!.message).toMatch(/unknown ca|alert number 48/);
    expect(err!.message).not.toMatch(/\n\s+at /); // no stack trace
  });
});
