/**
 * Test certificates made with the openssl CLI: a CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate, and an unrelated second CA with its own client certificate (for "wrong CA" and "wrong
 * client certificate" tests). EC P-256 keys keep generation fast.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from './tmp.js';

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** a CA that signed nothing the server knows */
  otherCaFile: string;
  /** a client certificate signed by otherCa: the server must refuse it */
  otherClientCertFile: string;
  otherClientKeyFile: string;
  cleanup(): Promise<void>;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '3650',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeLeaf(dir: string, name: string, ca: string, cn: string, ext: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '3650',
    '-extfile',
    `${name}.ext`,
  ]);
}

export async function makeTestCerts(): Promise<TestCerts> {
  const { dir, cleanup } = await tempDir('dr-certs-');
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  // The server certificate also allows clientAuth so the cluster helper can probe /health with it.
  makeLeaf(
    dir,
    'server',
    'ca',
    'localhost',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n',
  );
  const clientExt = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';
  makeLeaf(dir, 'client', 'ca', 'dr-client', clientExt);
  makeLeaf(dir, 'other-client', 'other-ca', 'dr-client', clientExt);
  const f = (n: string) => path.join(dir, n);
  return {
    dir,
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    otherCaFile: f('other-ca.crt'),
    otherClientCertFile: f('other-client.crt'),
    otherClientKeyFile: f('other-client.key'),
    cleanup,
  };
}

/** etcd's side of mTLS with these certificates: its server certificate, and client certificates required */
export function mtlsServer(certs: TestCerts) {
  return {
    caFile: certs.caFile,
    certFile: certs.serverCertFile,
    keyFile: certs.serverKeyFile,
    clientCertAuth: true,
  };
}

/** a client's side: the CA to trust and the client certificate the server accepts */
export function mtlsClient(certs: TestCerts) {
  return { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile };
}
