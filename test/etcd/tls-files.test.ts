/**
 * TLS files that cannot work, through the CLI against a real mTLS member: a client certificate with
 * somebody else's key, and files that are not PEM. Each is a configuration error (exit 2,
 * TLS_FILE_UNREADABLE) naming the file(s), never INTERNAL and never a stack trace.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, mtlsServer, type TestCerts } from '../helpers/certs.js';
import { runDr } from '../helpers/dr.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

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

function expectConfigErrorWithoutTrace(r: { code: number | null; stdout: string; stderr: string }): void {
  expect(r.code).toBe(2);
  expect(r.stderr).not.toMatch(/INTERNAL|internal error|\n\s+at /);
  expect(r.stdout).not.toMatch(/\n\s+at /);
}

describe('TLS files that do not work (CLI, real mTLS member)', () => {
  it('the right files work (the checks refuse nothing valid)', async () => {
    const r = await runDr([
      'audit',
      '--endpoints',
      c.endpoints[0]!,
      '--cacert',
      certs.caFile,
      '--cert',
      certs.clientCertFile,
      '--key',
      certs.clientKeyFile,
      '--json',
    ]);
    expect(r.stderr).not.toMatch(/TLS_FILE_UNREADABLE/);
    expect(r.json).toMatchObject({ ok: true });
    expect(r.code).toBe(0);
  });

  it('a certificate with the key of another certificate names both files', async () => {
    const r = await runDr([
      'audit',
      '--endpoints',
      c.endpoints[0]!,
      '--cacert',
      certs.caFile,
      '--cert',
      certs.clientCertFile,
      '--key',
      certs.otherClientKeyFile,
      '--json',
    ]);
    expectConfigErrorWithoutTrace(r);
    expect(r.json.error.code).toBe('TLS_FILE_UNREADABLE');
    expect(r.json.error.message).toContain(certs.clientCertFile);
    expect(r.json.error.message).toContain(certs.otherClientKeyFile);
    expect(r.json.error.message).toMatch(/do not belong together/);

    const plain = await runDr([
      'backup',
      '--endpoints',
      c.endpoints[0]!,
      '--cacert',
      certs.caFile,
      '--cert',
      certs.clientCertFile,
      '--key',
      certs.otherClientKeyFile,
      '--storage',
      `file://${certs.dir}/never`,
    ]);
    expectConfigErrorWithoutTrace(plain);
    expect(plain.stderr).toMatch(
      new RegExp(
        `^dr: error TLS_FILE_UNREADABLE: .*${certs.clientCertFile}.*${certs.otherClientKeyFile}.*\\n$`,
      ),
    );
  });

  it('a CA, certificate or key file that is not PEM names that file', async () => {
    const junk = path.join(certs.dir, 'junk.pem');
    await writeFile(junk, 'not a PEM file\n');
    const cases: [string[], RegExp][] = [
      [['--cacert', junk], /the CA file .*junk\.pem holds no PEM certificate/],
      [
        ['--cacert', certs.caFile, '--cert', junk, '--key', certs.clientKeyFile],
        /the client certificate file .*junk\.pem holds no usable PEM certificate/,
      ],
      [
        ['--cacert', certs.caFile, '--cert', certs.clientCertFile, '--key', junk],
        /the client key file .*junk\.pem holds no usable PEM private key/,
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await runDr(['audit', '--endpoints', c.endpoints[0]!, ...flags, '--json']);
      expectConfigErrorWithoutTrace(r);
      expect(r.json.error.code).toBe('TLS_FILE_UNREADABLE');
      expect(r.json.error.message).toMatch(message);
    }
  });
});
