/**
 * The ssh host and systemd control, with "bash -c" standing in for "ssh user@host": ssh hands the remote
 * shell one command string, exactly as bash -c does, so quoting mistakes show up here.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemdControl } from '../../src/restore/control/systemd.js';
import { localHost, runCommand, sshHost } from '../../src/restore/host.js';
import { tempDir } from '../helpers/tmp.js';

describe('ssh host (bash -c as the transport)', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('dr-host-');
  });
  afterAll(async () => work?.cleanup());

  it('sees directories as the local host does, through quoting', async () => {
    const host = sshHost('bash -c');
    const odd = path.join(work.dir, "it's a dir");
    await mkdir(path.join(odd, 'member'), { recursive: true });
    for (const h of [host, localHost]) {
      expect(await h.inspectDir(odd, 'data')).toEqual({
        path: odd,
        state: 'non-empty',
        mountPoint: false,
        entries: ['member'],
        looksLikeEtcd: true,
      });
      expect(await h.inspectDir(path.join(work.dir, 'nope'), 'data')).toEqual({
        path: path.join(work.dir, 'nope'),
        state: 'missing',
      });
      expect(await h.freeBytes(path.join(work.dir, 'nope', 'deeper'))).toBeGreaterThan(0);
    }
    await writeFile(path.join(work.dir, 'f.wal'), '');
    expect((await host.inspectDir(path.join(work.dir, 'f.wal'), 'wal')).state).toBe('not-a-directory');
    await host.rename(odd, `${odd}.aside`);
    expect(await host.exists(`${odd}.aside`)).toBe(true);
    expect(await host.exists(odd)).toBe(false);
    const r = await host.run(['sh', '-c', 'echo "$ETCDCTL_API $0"', "x y'z"], { env: { ETCDCTL_API: '3' } });
    expect(r.stdout.trim()).toBe("3 x y'z");
  });

  it('systemd control runs systemctl through the prefix, start with --no-block', async () => {
    const calls: string[][] = [];
    const fake = sshHost('ssh root@h', async (argv) => {
      calls.push(argv);
      return argv[2]!.includes('LoadState')
        ? { code: 0, stdout: 'loaded\n', stderr: '' }
        : { code: 0, stdout: '', stderr: '' };
    });
    const c = systemdControl({ unit: 'etcd.service', host: fake });
    expect(await c.check()).toMatchObject({ ok: true });
    await c.stop();
    await c.start();
    expect(calls.map((a) => a.join(' '))).toEqual([
      'ssh root@h systemctl show --property=LoadState --value etcd.service',
      'ssh root@h systemctl stop etcd.service',
      'ssh root@h systemctl start --no-block etcd.service',
    ]);
  });

  it('a failed unit is a death with its status and the end of its journal; a running one is not', async () => {
    let state = 'ActiveState=active\nSubState=running\nResult=success\nExecMainStatus=0\n';
    const calls: string[] = [];
    const fake = sshHost('ssh root@h', async (argv) => {
      calls.push(argv[2]!);
      if (argv[2]!.startsWith('systemctl show')) return { code: 0, stdout: state, stderr: '' };
      if (argv[2]!.startsWith('journalctl'))
        return {
          code: 0,
          stdout: 'cannot listen on TLS for 10.0.0.2:2380: KeyFile and CertFile are not presented\n',
          stderr: '',
        };
      return { code: 1, stdout: '', stderr: 'unexpected' };
    });
    const c = systemdControl({ unit: 'etcd.service', host: fake });
    expect(await c.died!()).toBeNull();
    // a start job still queued (inactive, Result=success) is not a death either
    state = 'ActiveState=inactive\nSubState=dead\nResult=success\nExecMainStatus=0\n';
    expect(await c.died!()).toBeNull();
    state = 'ActiveState=activating\nSubState=auto-restart\nResult=exit-code\nExecMainStatus=1\n';
    const d = await c.died!();
    expect(d).toMatchObject({ exitCode: 1, log: 'ssh root@h journalctl -u etcd.service' });
    expect(d!.status).toMatch(
      /etcd\.service on ssh root@h is activating\/auto-restart \(Result=exit-code, status 1\)/,
    );
    expect(d!.tail).toMatch(/KeyFile and CertFile are not presented/);
    expect(calls.at(-1)).toBe('journalctl -u etcd.service -n 15 --no-pager -o cat');
  });

  it('a unit that is not there is reported, not thrown', async () => {
    const c = systemdControl({
      unit: 'dr-no-such-unit.service',
      host: { ...localHost, run: (a, o) => runCommand(a, o) },
    });
    const r = await c.check();
    expect(r.ok).toBe(false);
  });
});
