/**
 * A throwaway certificate authority for the etcd members dr starts for itself and throws away: a drill's
 * cluster (drill.ts) and the point-in-time replay member (replay/replay-member.ts). The members serve TLS
 * with --client-cert-auth (and --peer-client-cert-auth), and dr presents a client certificate whose
 * common name is `root`:
 *
 * - nobody else on the host can read the restored keyspace (every Kubernetes Secret) while it runs: only a
 *   holder of a certificate from this CA gets in; the CA key is deleted as soon as the two certificates are
 *   signed, and the 0700 directory holding the rest is removed with the members;
 * - etcd takes a verified client certificate's CN as the user name, so on data with etcd auth enabled dr
 *   acts as etcd's root user without knowing any password.
 *
 * The certificates come from the `openssl` command line (Node can read X.509 but not issue it); P-256 keys,
 * valid two days, made in ~50 ms. The server certificate (also the peers' and their client certificate)
 * names 127.0.0.1 and `localhost` (dr's clients on a Unix socket), and `client` (etcd's own gateway dials
 * the replay member's socket `client:1` by that name).
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { runCommand } from '../restore/host.js';

export interface ThrowawayTls {
  caFile: string;
  /** the members' (client and peer URLs) */
  serverCertFile: string;
  serverKeyFile: string;
  /** dr's: CN=root */
  clientCertFile: string;
  clientKeyFile: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Makes the CA and the certificates in `dir` (created 0700); `purpose` names the command in errors. */
export async function makeThrowawayTls(
  dir: string,
  purpose: string,
  signal?: AbortSignal,
): Promise<ThrowawayTls> {
  await mkdir(dir, { mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const openssl = async (...args: string[]) => {
    const r = await runCommand(['openssl', ...args], { signal });
    if (r.code !== 0)
      throw new DrError(
        r.code === 127 ? 'CONFIG_INVALID' : 'INTERNAL',
        r.code === 127
          ? `${purpose}: the throwaway members need the \`openssl\` command to make their private certificates: install openssl (Debian: apt-get install openssl)`
          : `${purpose}: openssl ${args[0]} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`,
      );
  };
  await writeFile(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:client\nextendedKeyUsage=serverAuth,clientAuth\n',
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
    '/CN=etcd-dr throwaway CA',
    '-days',
    '2',
    // explicit, not left to the host's openssl.cnf: Go accepts only a CA that says it is one
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  // the two leaves side by side (~70 ms one after the other)
  const leaf = async (name: string, cn: string, serial: string) => {
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
  };
  // settled, not raced: a failed leaf must not leave the other's openssl writing while the caller removes
  // the directory
  const made = await Promise.allSettled([leaf('server', 'localhost', '1'), leaf('client', 'root', '2')]);
  const failed = made.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  // nothing is signed after this: the CA key goes at once
  await rm(f('ca.key'), { force: true });
  for (const key of ['server.key', 'client.key']) await chmod(f(key), 0o600);
  return {
    caFile: f('ca.crt'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
  };
}
