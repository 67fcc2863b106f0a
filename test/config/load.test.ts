import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError, type DrError } from '../../src/core/errors.js';
import {
  loadConfig,
  parseConfigText,
  resolveFileUrl,
  validateConfigText,
  type ConfigError,
} from '../../src/config/load.js';
import { tempDir } from '../helpers/tmp.js';

const POLICIES = path.resolve(import.meta.dirname, '../../policies');
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('dr-config-'));
});
afterAll(async () => cleanup());

function errorsOf(text: string, opts: Parameters<typeof validateConfigText>[2] = {}): string[] {
  const r = validateConfigText(text, 'policies.yaml', { baseDir: dir, ...opts });
  if (r.ok) return [];
  return r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}`);
}

function thrown(fn: () => unknown): DrError {
  try {
    fn();
  } catch (err) {
    if (isDrError(err)) return err;
    throw err;
  }
  throw new Error('expected a DrError');
}

const MINIMAL = `
clusters:
  - name: c1
    endpoints: [127.0.0.1:2379]
storage:
  - name: disk
    url: file:///var/backups/dr
policies:
  - name: p1
    cluster: c1
    schedule: "*/5 * * * *"
    storage: [disk]
`;

describe('shipped examples', () => {
  it('every policies/*.yaml validates (offline: their TLS and password files live on other hosts)', async () => {
    const files = (await readdir(POLICIES)).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual([
      'kubernetes-control-plane.yaml',
      'sandbox.yaml',
      'systemd-mtls-3-member.yaml',
    ]);
    for (const f of files) {
      const config = loadConfig(path.join(POLICIES, f), { offline: true });
      expect(config.policies.length, f).toBeGreaterThan(0);
    }
  });

  it('the sandbox config loads for real: loopback endpoints, every minute, storage under the repo .sandbox/', () => {
    const config = loadConfig(path.join(POLICIES, 'sandbox.yaml'), { env: {} });
    expect(config.clusters[0]?.endpoints).toEqual(['127.0.0.1:23790', '127.0.0.1:23791', '127.0.0.1:23792']);
    expect(config.storage[0]?.url).toBe(`file://${path.resolve(POLICIES, '..', '.sandbox', 'backups')}`);
    expect(config.policies[0]).toMatchObject({
      schedule: '* * * * *',
      expectedIntervalSeconds: 60,
      staleAfterSeconds: 120,
    });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 9464, token: null });
  });

  it('the systemd mTLS example loads for real once its files exist, and never prints its secrets', async () => {
    const text = (await readFile(path.join(POLICIES, 'systemd-mtls-3-member.yaml'), 'utf8'))
      .replaceAll('/etc/etcd/pki/', `${dir}/pki/`)
      .replaceAll('/etc/etcd-dr/', `${dir}/`);
    await mkdir(path.join(dir, 'pki'), { recursive: true });
    for (const f of ['pki/ca.pem', 'pki/etcd-dr-client.pem', 'pki/etcd-dr-client-key.pem']) {
      await writeFile(path.join(dir, f), PEM);
    }
    await writeFile(path.join(dir, 'etcd-password'), 's3cret-pw\n', { mode: 0o600 });
    await writeFile(path.join(dir, 'api-token'), 'tok-123', { mode: 0o600 });
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, text);

    const config = loadConfig(file, { env: {} });
    const main = config.clusters[0]!;
    expect(main.auth?.user).toBe('etcd-dr');
    expect(main.auth?.password.reveal()).toBe('s3cret-pw');
    expect(config.server.token?.reveal()).toBe('tok-123');
    expect(main.tls?.caFile).toBe(`${dir}/pki/ca.pem`);
    expect(main.restoreTarget?.members.map((m) => m.control)).toEqual([
      { type: 'systemd', unit: 'etcd.service', ssh: 'ssh -o BatchMode=yes root@10.0.1.11' },
      { type: 'systemd', unit: 'etcd.service', ssh: 'ssh -o BatchMode=yes root@10.0.1.12' },
      { type: 'systemd', unit: 'etcd.service', ssh: 'ssh -o BatchMode=yes root@10.0.1.13' },
    ]);
    expect(config.policies[0]).toMatchObject({
      timezone: 'Europe/Berlin',
      expectedIntervalSeconds: 3600,
      staleAfterSeconds: 7200,
    });
    for (const printed of [
      JSON.stringify(config),
      inspect(config, { depth: 10 }),
      String(main.auth?.password),
    ]) {
      expect(printed).not.toContain('s3cret-pw');
      expect(printed).not.toContain('tok-123');
    }
    expect(JSON.stringify(config)).toContain('"password":"[redacted]"');
  });
});

describe('defaults and resolution', () => {
  it('applies defaults and computes the stale threshold from the schedule', () => {
    const config = parseConfigText(MINIMAL, 'policies.yaml', { baseDir: dir });
    expect(config.version).toBe(1);
    expect(config.clusters[0]).toMatchObject({
      dialTimeoutMs: 5000,
      requestTimeoutMs: 30000,
      snapshotFrom: 'follower',
      auth: null,
    });
    expect(config.policies[0]).toMatchObject({
      timezone: 'UTC',
      compressionLevel: 1,
      verifyAfterUpload: true,
      jitterSeconds: 0,
      retention: {},
      expectedIntervalSeconds: 300,
      staleAfterSeconds: 600,
    });
    expect(config.server).toEqual({ listen: '127.0.0.1:9464', host: '127.0.0.1', port: 9464, token: null });
    expect(config.catalog.path).toBe('/var/lib/etcd-dr/catalog.sqlite');
    expect(config.concurrency).toBe(2);
  });

  it('resolves relative paths against the config directory and reads passwordEnv from the env given', async () => {
    await writeFile(path.join(dir, 'ca.pem'), PEM);
    const text = MINIMAL.replace(
      'endpoints: [127.0.0.1:2379]',
      'endpoints: ["https://127.0.0.1:2379"]\n    tls: { caFile: ca.pem }\n    auth: { user: root, passwordEnv: ETCD_PW }',
    )
      .replace('file:///var/backups/dr', 'file://./backups')
      .concat(
        'catalog: { path: state/catalog.sqlite }\nserver: { listen: "[::1]:9000", tokenEnv: DR_TOKEN }\n',
      );
    const config = parseConfigText(text, 'policies.yaml', {
      baseDir: dir,
      env: { ETCD_PW: 'pw', DR_TOKEN: 't' },
    });
    expect(config.clusters[0]?.tls?.caFile).toBe(path.join(dir, 'ca.pem'));
    expect(config.clusters[0]?.auth?.password.reveal()).toBe('pw');
    expect(config.clusters[0]?.auth?.password.source).toBe('env ETCD_PW');
    expect(config.storage[0]?.url).toBe(`file://${dir}/backups`);
    expect(config.catalog.path).toBe(path.join(dir, 'state/catalog.sqlite'));
    expect(config.server).toMatchObject({ host: '::1', port: 9000 });
    expect(config.server.token?.reveal()).toBe('t');
  });

  it('offline mode reads no file or variable; its secrets refuse to reveal', () => {
    const text = MINIMAL.replace(
      'endpoints: [127.0.0.1:2379]',
      'endpoints: [127.0.0.1:2379]\n    tls: { caFile: /nope/ca.pem }\n    auth: { user: root, passwordFile: /nope/pw }',
    );
    expect(errorsOf(text)).toEqual([
      'policies.yaml:5:20: clusters[0].tls.caFile: cannot read /nope/ca.pem: ENOENT',
      'policies.yaml:6:39: clusters[0].auth.passwordFile: cannot read /nope/pw: ENOENT',
    ]);
    const config = parseConfigText(text, 'policies.yaml', { offline: true });
    const pw = config.clusters[0]!.auth!.password;
    expect(pw.resolved).toBe(false);
    expect(thrown(() => pw.reveal()).code).toBe('CONFIG_INVALID');
  });

  it('resolveFileUrl leaves absolute file URLs and s3 URLs alone', () => {
    expect(resolveFileUrl('file:///a/b', '/x')).toBe('file:///a/b');
    expect(resolveFileUrl('s3://b/p?region=x', '/x')).toBe('s3://b/p?region=x');
    expect(resolveFileUrl('file://rel/dir', '/x')).toBe('file:///x/rel/dir');
  });
});

describe('error reports', () => {
  it('reports every error at once with file, line, column and field path', async () => {
    await writeFile(path.join(dir, 'empty-password'), '\n');
    const text = `clusters:
  - name: prod
    endpoints: [10.0.0.1:2379, "bad endpoint"]
    tls: { certFile: /nope/cert.pem }
    auth: { user: root, passwordFile: empty-password }
    snapshotFrom: followr
storage:
  - name: disk
    url: file:///b
  - name: disk
    url: ftp://x
policies:
  - name: hourly
    cluster: prd
    schedule: "* * *"
    timezone: Europe/Berlinn
    storage: [disk, s3]
    compressionlevel: 5
    retention: { keepDaily: -3, keepWithin: 7 days }
  - name: every-minute
    cluster: prod
    schedule: "* * * * *"
    storage: [disk]
    jitterSeconds: 60
server:
  listen: 0.0.0.0
  tokenEnv: DR_TOKEN
`;
    expect(errorsOf(text)).toEqual([
      'policies.yaml:3:32: clusters[0].endpoints[1]: endpoint must be host:port or http(s)://host:port',
      'policies.yaml:4:10: clusters[0].tls.keyFile: certFile and keyFile go together',
      'policies.yaml:4:22: clusters[0].tls.certFile: cannot read /nope/cert.pem: ENOENT',
      `policies.yaml:5:39: clusters[0].auth.passwordFile: ${dir}/empty-password is empty`,
      'policies.yaml:6:19: clusters[0].snapshotFrom: Invalid option: expected one of "follower"|"leader"|"any"',
      'policies.yaml:10:11: storage[1].name: duplicate storage name "disk" (first at storage[0])',
      'policies.yaml:11:10: storage[1].url: storage url must start with file://, s3:// or azblob://',
      'policies.yaml:14:14: policies[0].cluster: no cluster named "prd" (known: prod)',
      'policies.yaml:15:15: policies[0].schedule: invalid cron expression "* * *": expected 5 or 6 fields but got 3',
      'policies.yaml:16:15: policies[0].timezone: must be an IANA time zone such as UTC or Europe/Berlin',
      'policies.yaml:17:21: policies[0].storage[1]: no storage target named "s3" (known: disk)',
      'policies.yaml:18:5: policies[0].compressionlevel: unknown option "compressionlevel" (did you mean "compressionLevel"?)',
      'policies.yaml:19:29: policies[0].retention.keepDaily: must be -1 (unlimited), 0 or more',
      'policies.yaml:19:45: policies[0].retention.keepWithin: must be a duration such as 7d, 36h or 1y6m (units y m w d h)',
      'policies.yaml:24:20: policies[1].jitterSeconds: jitter of 60s is not shorter than the schedule interval (60s)',
      'policies.yaml:26:11: server.listen: must be host:port, e.g. 127.0.0.1:9464',
      'policies.yaml:27:13: server.tokenEnv: environment variable DR_TOKEN is not set',
    ]);
  });

  it('names missing fields, wrong types, and member problems', () => {
    const text = `clusters:
  - name: c1
    endpoints: 127.0.0.1:2379
    auth: { user: root, passwordFile: /a, passwordEnv: B }
    members:
      - name: m1
        peerURLs: [http://10.0.0.1:2380]
        clientURLs: [http://10.0.0.1:2379]
        dataDir: var/lib/etcd
        control: { type: systemd }
      - name: m1
        peerURLs: [10.0.0.2:2380]
        clientURLs: [http://10.0.0.2:2379]
        dataDir: /var/lib/etcd
        control: { type: local, ssh: "ssh x" }
storage:
  - url: file:///b
policies:
  - name: p
    cluster: c1
    storage: []
    schedule: 5
`;
    expect(errorsOf(text)).toEqual([
      'policies.yaml:3:16: clusters[0].endpoints: expected a list, got a string',
      'policies.yaml:4:11: clusters[0].auth: give exactly one of passwordFile or passwordEnv',
      'policies.yaml:9:18: clusters[0].members[0].dataDir: must be an absolute path',
      'policies.yaml:10:18: clusters[0].members[0].control.unit: required (a string)',
      'policies.yaml:11:15: clusters[0].members[1].name: name m1 is also used by member "m1"',
      'policies.yaml:12:20: clusters[0].members[1].peerURLs[0]: must look like http(s)://host:port (lower-case scheme, explicit port, no path)',
      'policies.yaml:15:33: clusters[0].members[1].control.ssh: unknown option "ssh"',
      'policies.yaml:17:5: storage[0].name: required (a string)',
      'policies.yaml:21:14: policies[0].storage: needs at least one storage target',
      'policies.yaml:22:15: policies[0].schedule: expected a string, got a number',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with their position', () => {
    expect(errorsOf('clusters:\n  - name: a\n    name: b\n')).toEqual([
      'policies.yaml:3:5: (yaml): Map keys must be unique',
    ]);
    expect(errorsOf('clusters: [\n')[0]).toMatch(/^policies\.yaml:2:1: \(yaml\): /);
    expect(errorsOf('')).toEqual(['policies.yaml:1:1: (top level): the file is empty']);
    expect(errorsOf('- 1\n')).toEqual(['policies.yaml:1:1: (top level): expected a mapping, got a list']);
  });

  it('an unknown key never echoes its value, even when it looks like a password', () => {
    const text = MINIMAL.replace('    endpoints:', '    password: hunter2\n    endpoints:');
    const err = thrown(() => parseConfigText(text, 'policies.yaml'));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.message).toBe(
      'config: 1 error in policies.yaml\n  policies.yaml:4:5: clusters[0].password: unknown option "password" (allowed: name, endpoints, tls, auth, dialTimeoutMs, requestTimeoutMs, snapshotFrom, members, restore)',
    );
    expect(JSON.stringify(err.toJSON())).not.toContain('hunter2');
    expect((err.details.errors as ConfigError[])[0]).toEqual({
      file: 'policies.yaml',
      line: 4,
      column: 5,
      path: 'clusters[0].password',
      message:
        'unknown option "password" (allowed: name, endpoints, tls, auth, dialTimeoutMs, requestTimeoutMs, snapshotFrom, members, restore)',
    });
  });

  it('loadConfig names a missing file', () => {
    const err = thrown(() => loadConfig(path.join(dir, 'missing.yaml')));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe(`config: cannot read ${dir}/missing.yaml: ENOENT`);
  });
});

describe('storage credentials', () => {
  it('are refused in the URL and in options, without echoing them', () => {
    const text = MINIMAL.replace(
      'url: file:///var/backups/dr',
      'url: "s3://AKIA:topsecret@bucket/p?region=x"\n  - name: s3b\n    url: "s3://bucket/p?secretAccessKey=topsecret"\n    options: { secretAccessKey: topsecret, region: eu-west-1 }',
    );
    const errors = errorsOf(text);
    expect(errors).toEqual([
      'policies.yaml:7:10: storage[0].url: storage url must not carry credentials (user:password@ or a secret parameter): use the AWS environment or profile',
      'policies.yaml:9:10: storage[1].url: storage url must not carry credentials (user:password@ or a secret parameter): use the AWS environment or profile',
      'policies.yaml:10:16: storage[1].options.secretAccessKey: credentials do not belong in the config: use the AWS environment or profile',
    ]);
    expect(errors.join('\n')).not.toContain('topsecret');
  });

  it('an azblob:// target is accepted; an Azure key or SAS signature in it is refused', () => {
    const ok = MINIMAL.replace(
      'url: file:///var/backups/dr',
      'url: "azblob://etcd-backups/prod?account=acme01"',
    );
    expect(errorsOf(ok)).toEqual([]);
    const bad = MINIMAL.replace(
      'url: file:///var/backups/dr',
      'url: "azblob://etcd-backups/prod?account=acme01&sig=topsecret"\n    options: { accountKey: topsecret }',
    );
    const errors = errorsOf(bad);
    expect(errors).toHaveLength(2);
    expect(errors.join('\n')).toContain(
      'storage[0].options.accountKey: credentials do not belong in the config',
    );
    expect(errors.join('\n')).not.toContain('topsecret');
  });
});

describe('policy encryption', () => {
  const GOOD = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
  const withEncryption = (block: string) => `${MINIMAL}    encryption: ${block}\n`;

  it('accepts recipients or a recipients file, and refuses a policy with neither, a bad key or a secret key, naming the field', () => {
    expect(errorsOf(withEncryption(`{ recipients: [${GOOD}] }`))).toEqual([]);
    expect(errorsOf(withEncryption(`{ recipientsFile: /etc/etcd-dr/recipients.txt }`))).toEqual([]);
    expect(errorsOf(withEncryption('{}')).join('\n')).toMatch(
      /policies\[0\]\.encryption: give recipients or recipientsFile/,
    );
    const bad = errorsOf(withEncryption(`{ recipients: [${GOOD.slice(0, -1)}x] }`)).join('\n');
    expect(bad).toMatch(/policies\[0\]\.encryption\.recipients\[0\]: .*not a valid age recipient/);
    const secret = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
    const leaked = errorsOf(withEncryption(`{ recipients: [${secret}] }`)).join('\n');
    expect(leaked).toMatch(/this is a secret key/);
    expect(leaked).not.toContain(secret);
  });
});
