/**
 * A throwaway certificate authority for the replay member when its data has etcd auth enabled
 * (docs/revision-log.md §9): the member serves TLS on its private Unix socket with --client-cert-auth,
 * and dr presents a client certificate whose common name is `root`. etcd takes a verified client
 * certificate's CN as the user name, so dr acts as etcd's root user on that member without knowing any
 * password, and nobody else can connect (the socket's directory is 0700, the CA key never leaves it and
 * goes with the directory).
 *
 * The certificates come from the `openssl` command line (Node can read X.509 but not issue it); P-256 keys,
 * valid two days. The server certificate names `localhost` (dr's clients on a socket) and `client` (etcd's
 * own gateway dials its socket `client:1` by that name).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { runCommand } from '../restore/host.js';

export interface ReplayTls {
  caFile: string;
  /** the member's */
  serverCertFile: string;
  serverKeyFile: string;
  /** dr's: CN=root */
  clientCertFile: string;
  clientKeyFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeReplayTls(dir: string, signal?: AbortSignal): Promise<ReplayTls> {
  await mkdir(dir, { mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const openssl = async (...args: string[]) => {
    const r = await runCommand(['openssl', ...args], { signal });
    if (r.code !== 0)
      throw new DrError(
        r.code === 127 ? 'CONFIG_INVALID' : 'INTERNAL',
        r.code === 127
          ? 'point in time: the backup has etcd auth enabled, and the replay member needs the `openssl` command to make its private certificates: install openssl (Debian: apt-get install openssl)'
          : `point in time: openssl ${args[0]} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
      );
  };
  await writeFile(
    f('server.ext'),
    'subjectAltName=DNS:localhost,DNS:client\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await writeFile(f('client.ext'), 'extendedKeyUsage=clientAuth\n');
  await openssl(
    'req',
    '-x509',
    ...EC,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    '/CN=dr-replay-ca',
    '-days',
    '2',
  );
  for (const [name, cn, serial] of [
    ['server', 'localhost', '1'],
    ['client', 'root', '2'],
  ] as const) {
    await openssl('req', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    await openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-set_serial',
      serial,
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.crt`),
    );
  }
  for (const key of ['ca.key', 'server.key', 'client.key']) await chmod(f(key), 0o600);
  return {
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
  };
}
