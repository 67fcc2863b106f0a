import { describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { parseMembersYaml } from '../../src/config/members-file.js';

const good = `
initialClusterToken: tok
clientTls: { caFile: /etc/etcd/ca.pem, certFile: /etc/etcd/dr.pem, keyFile: /etc/etcd/dr-key.pem }
members:
  - name: a
    peerURLs: [http://127.0.0.1:2380]
    clientURLs: [http://127.0.0.1:2379]
    dataDir: /var/lib/etcd-a
    control: { type: local }
  - name: b
    peerURLs: [https://10.0.0.2:2380]
    clientURLs: [https://10.0.0.2:2379]
    dataDir: /var/lib/etcd
    walDir: /var/lib/etcd-wal
    tls: { caFile: /etc/etcd/ca.pem, certFile: /etc/etcd/s.pem, keyFile: /etc/etcd/s-key.pem, clientCertAuth: true }
    peerTls: { caFile: /etc/etcd/ca.pem, certFile: /etc/etcd/p.pem, keyFile: /etc/etcd/p-key.pem, clientCertAuth: true }
    owner: etcd:etcd
    control: { type: systemd, unit: etcd.service, ssh: "ssh -i /root/k root@10.0.0.2" }
  - name: c
    peerURLs: [http://127.0.0.1:2382]
    clientURLs: [http://127.0.0.1:2381]
    dataDir: /var/lib/etcd-c
    control: { type: manual }
`;

function errorOf(text: string): { message: string; code: string } {
  try {
    parseMembersYaml(text, 'members.yaml');
  } catch (err) {
    if (isDrError(err)) return { message: err.message, code: err.code };
    throw err;
  }
  throw new Error('no error');
}

describe('members file', () => {
  it('parses every control type', () => {
    const f = parseMembersYaml(good);
    expect(f.members.map((m) => m.control.type)).toEqual(['local', 'systemd', 'manual']);
    expect(f.members[1]!.tls!.clientCertAuth).toBe(true);
    expect(f.members[0]!.tls).toBeUndefined();
    expect(f.initialClusterToken).toBe('tok');
    expect(f.members[1]!.peerTls).toMatchObject({ certFile: '/etc/etcd/p.pem', clientCertAuth: true });
    expect(f.members[1]!.owner).toBe('etcd:etcd');
    // etcd's own timings unless the file says otherwise
    expect(f.timing).toEqual({ heartbeatInterval: 100, electionTimeout: 1000 });
    expect(
      parseMembersYaml(`timing: { heartbeatInterval: 250, electionTimeout: 2500 }\n${good}`).timing,
    ).toEqual({ heartbeatInterval: 250, electionTimeout: 2500 });
  });

  it('wants peerTls for https peer URLs, clientTls for members that check client certificates, sane timings', () => {
    expect(errorOf(good.replace(/ {4}peerTls: .*\n/, '')).message).toMatch(
      /member "b" .* field peerTls: https peer URL needs peerTls/,
    );
    expect(errorOf(good.replace(/clientTls: .*\n/, '')).message).toMatch(
      /member "b" .* field tls.clientCertAuth: .*set clientTls.certFile and clientTls.keyFile/,
    );
    expect(errorOf(`timing: { heartbeatInterval: 500, electionTimeout: 1000 }\n${good}`).message).toMatch(
      /electionTimeout must be at least 5 times heartbeatInterval/,
    );
    expect(errorOf(good.replace('owner: etcd:etcd', 'owner: "etcd; rm -rf /"')).message).toMatch(
      /member "b" .* field owner/,
    );
  });

  it('names the member and the field at fault', () => {
    const e = errorOf(good.replace('https://10.0.0.2:2380', 'https://10.0.0.2:2380/path'));
    expect(e.code).toBe('CONFIG_INVALID');
    // file:line:column of the value at fault
    expect(e.message).toMatch(
      /^members\.yaml:11:16: member "b" \(members\[1\]\) field peerURLs\[0\]: must look like http\(s\):\/\/host:port/,
    );
  });

  it('reports every problem with its line and column, unknown fields at the key', () => {
    const text = good
      .replace('dataDir: /var/lib/etcd-a', 'dataDir: etcd-a')
      .replace('control: { type: manual }', 'control: { type: manual }\n    colour: red');
    const e = errorOf(text);
    expect(e.message.split('\n')).toEqual([
      '2 errors in members.yaml:',
      '  members.yaml:8:14: member "a" (members[0]) field dataDir: must be an absolute path',
      '  members.yaml:24:5: member "c" (members[2]) field colour: unknown field "colour"',
    ]);
    let details: unknown;
    try {
      parseMembersYaml(text, 'members.yaml');
    } catch (err) {
      details = (err as { details: unknown }).details;
    }
    expect((details as { errors: unknown[] }).errors).toEqual([
      { line: 8, column: 14, path: 'members[0].dataDir', message: 'must be an absolute path' },
      { line: 24, column: 5, path: 'members[2].colour', message: 'unknown field "colour"' },
    ]);
    expect(errorOf('members:\n  - name: a\n  bad: [').message).toMatch(
      /^members\.yaml:\d+:\d+: not valid YAML/,
    );
  });

  it('rejects relative data dirs, duplicates, unknown keys, unknown control, and TLS/scheme mismatches', () => {
    expect(errorOf(good.replace('/var/lib/etcd-a', 'etcd-a')).message).toMatch(
      /member "a" \(members\[0\]\) field dataDir: must be an absolute path/,
    );
    const twoLocal = good.replace(
      'dataDir: /var/lib/etcd-c\n    control: { type: manual }',
      'dataDir: /var/lib/etcd-a\n    control: { type: local }',
    );
    expect(errorOf(twoLocal).message).toMatch(
      /member "c" .* field dataDir: directory \/var\/lib\/etcd-a is also used by member "a"/,
    );
    // a directory is per host: a manual member (its own host) may use the same path
    expect(
      parseMembersYaml(good.replace('dataDir: /var/lib/etcd-c', 'dataDir: /var/lib/etcd-a')).members[2]!
        .dataDir,
    ).toBe('/var/lib/etcd-a');
    expect(errorOf(good.replace('name: c', 'name: a')).message).toMatch(/name a is also used/);
    expect(errorOf(good.replace('control: { type: manual }', 'control: { type: docker }')).message).toMatch(
      /member "c" .* field control/,
    );
    expect(
      errorOf(good.replace('control: { type: local }', 'control: { type: local }\n    colour: red')).message,
    ).toMatch(/member "a" .*colour/);
    expect(errorOf(good.replace('    tls: { caFile', '    xtls: { caFile')).message).toMatch(
      /member "b" .*(tls|xtls)/,
    );
    expect(errorOf('members: []').message).toMatch(/field members/);
    expect(errorOf('members: [').message).toMatch(/not valid YAML/);
  });
});
