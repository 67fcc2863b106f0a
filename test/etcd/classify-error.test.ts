import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import { aggregateFailures, classifyEtcdError, isInvalidTokenError } from '../../src/etcd/classify-error.js';
import { parseEndpoint } from '../../src/etcd/endpoint.js';

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

  it('never shows credentials embedded in an endpoint', () => {
    expect(parseEndpoint('https://u:secret@h:1', false).display).not.toContain('secret');
  });
});
