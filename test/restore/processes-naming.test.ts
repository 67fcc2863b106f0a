/**
 * processesNaming (src/restore/in-use.ts), which a restore step uses to wait for a killed run's restore
 * tool (run by dr with `--data-dir <staging>`): it finds a running process by a whole argument of its
 * command line, not by an argument that merely starts with the path; its own scan never counts; through an
 * ssh-style prefix (here `sh -c`, standing for the far end's shell) the same.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localHost, sshHost } from '../../src/restore/host.js';
import { processesNaming } from '../../src/restore/in-use.js';

describe('processesNaming', () => {
  const staging = `/tmp/dr-pn-${process.pid}/n1.dr-restoring`;
  const wal = `/tmp/dr-pn-${process.pid}/n1-wal.dr-restoring`;
  let data: ChildProcess;
  let walTool: ChildProcess;
  beforeAll(() => {
    data = spawn('sh', ['-c', 'sleep 30; :', 'etcdutl', '--data-dir', staging], { stdio: 'ignore' });
    walTool = spawn('sh', ['-c', 'sleep 30; :', 'etcdutl', '--wal-dir', wal], { stdio: 'ignore' });
  });
  afterAll(() => {
    data?.kill('SIGKILL');
    walTool?.kill('SIGKILL');
  });

  it('finds each process that has one of the paths as a whole argument, with its command', async () => {
    const ps = await processesNaming(localHost, [staging, wal]);
    expect(ps.map((p) => p.pid).sort()).toEqual([data.pid, walTool.pid].sort());
    expect(ps.find((p) => p.pid === data.pid)?.command).toBe(
      `sh -c sleep 30; : etcdutl --data-dir ${staging}`,
    );
  });

  it('not one whose argument only starts with the path', async () => {
    expect(await processesNaming(localHost, [`/tmp/dr-pn-${process.pid}/n1`])).toEqual([]);
  });

  it('through a command prefix, whose shell carries the paths, the same', async () => {
    const ps = await processesNaming(sshHost('sh -c'), [staging]);
    expect(ps.map((p) => p.pid)).toEqual([data.pid]);
  });
});
