/**
 * Which restore tool dr accepts (src/restore/tool.ts). The etcd 3.6 and 3.7 cases run against a fake host
 * that answers as those releases' etcdctl / etcdutl do (no 3.6 or 3.7 binary can be fetched here: the names
 * say "synthetic"); the last tests run the real etcdctl / etcdutl on PATH (3.4 or 3.5, per ETCD_BIN_DIR).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { DrError } from '../../src/core/errors.js';
import type { MemberHost } from '../../src/restore/host.js';
import { compareMinor, findRestoreTool, olderThanBackup } from '../../src/restore/tool.js';

const help = (kind: 'etcdctl' | 'etcdutl', withRestore: boolean) =>
  withRestore
    ? `NAME:\n\tsnapshot restore - Restores an etcd member snapshot to an etcd directory\n\nUSAGE:\n\t${kind} snapshot restore <filename> [options] [flags]\n`
    : // cobra shows the parent's help for an unknown subcommand, exit 0 (etcdctl 3.6: save only)
      `NAME:\n\tsnapshot - Manages etcd node snapshots\n\nCOMMANDS:\n\tsave\tStores an etcd node backend snapshot to a given file\n`;

/** a host with these tools: name -> version (absent: not installed); etcdctl's help lists restore when asked */
function fakeHost(tools: { etcdutl?: string; etcdctl?: string; etcdctlRestore?: boolean }) {
  const calls: string[][] = [];
  const host = {
    label: 'fake',
    remote: false,
    run: async (argv: string[]) => {
      calls.push(argv);
      const [cmd, ...args] = argv;
      const v = tools[cmd as 'etcdutl' | 'etcdctl'];
      if (v === undefined) return { code: 127, stdout: '', stderr: `${cmd}: not found` };
      if (args[0] === 'version')
        return { code: 0, stdout: `${cmd} version: ${v}\nAPI version: 3.x\n`, stderr: '' };
      if (args.join(' ') === 'snapshot restore --help')
        return { code: 0, stdout: help(cmd as 'etcdctl', tools.etcdctlRestore ?? true), stderr: '' };
      return { code: 1, stdout: '', stderr: 'unexpected' };
    },
  } as unknown as MemberHost;
  return { host, calls };
}

async function refusal(p: Promise<unknown>): Promise<DrError> {
  try {
    await p;
  } catch (err) {
    return err as DrError;
  }
  throw new Error('expected a refusal');
}

describe('tool choice', () => {
  test('etcdutl first when present (3.5 and later)', async () => {
    const { host } = fakeHost({ etcdutl: '3.5.16', etcdctl: '3.5.16' });
    expect(await findRestoreTool({ host })).toMatchObject({
      kind: 'etcdutl',
      version: '3.5.16',
      supportsBumpRevision: true,
    });
  });

  test('etcdctl 3.4 when there is no etcdutl, after checking its help lists snapshot restore', async () => {
    const { host, calls } = fakeHost({ etcdctl: '3.4.23' });
    expect(await findRestoreTool({ host })).toMatchObject({ kind: 'etcdctl', version: '3.4.23' });
    expect(calls).toContainEqual(['etcdctl', 'snapshot', 'restore', '--help']);
  });

  test('synthetic etcd 3.6: etcdctl 3.6 alone is refused (no snapshot restore from 3.6 on), CONFIG_INVALID', async () => {
    const { host, calls } = fakeHost({ etcdctl: '3.6.0' });
    const err = await refusal(findRestoreTool({ host }));
    expect(err).toBeInstanceOf(DrError);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      /etcdctl 3\.6\.0 \(etcdctl has no snapshot restore from 3\.6 on: use etcdutl\)/,
    );
    // not even asked: the version settles it
    expect(calls).not.toContainEqual(['etcdctl', 'snapshot', 'restore', '--help']);
  });

  test('synthetic etcd 3.7: etcdutl 3.7 is taken, etcdctl 3.7 never', async () => {
    expect(
      await findRestoreTool({ host: fakeHost({ etcdutl: '3.7.0', etcdctl: '3.7.0' }).host }),
    ).toMatchObject({
      kind: 'etcdutl',
      version: '3.7.0',
      supportsBumpRevision: true,
    });
    const err = await refusal(findRestoreTool({ host: fakeHost({ etcdctl: '3.7.0-alpha.0' }).host }));
    expect(err.message).toMatch(/etcdctl has no snapshot restore from 3\.6 on/);
  });

  test('an etcdctl whose help lists no snapshot restore is refused', async () => {
    const err = await refusal(
      findRestoreTool({ host: fakeHost({ etcdctl: '3.5.16', etcdctlRestore: false }).host }),
    );
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/etcdctl 3\.5\.16 \(its help lists no snapshot restore\)/);
  });

  test('no tool at all: both named', async () => {
    const err = await refusal(findRestoreTool({ host: fakeHost({}).host }));
    expect(err.message).toMatch(
      /tried etcdutl \(not found or no version\), etcdctl \(not found or no version\)/,
    );
  });
});

describe("a tool older than the backup's etcd is refused", () => {
  test('synthetic etcd 3.6 backup: etcdutl and etcdctl 3.5 both refused, naming the version needed', async () => {
    const err = await refusal(
      findRestoreTool({
        host: fakeHost({ etcdutl: '3.5.16', etcdctl: '3.5.16' }).host,
        backupVersion: '3.6.1',
      }),
    );
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/etcdutl 3\.5\.16 \(older than the etcd 3\.6\.1 that wrote the backup/);
    expect(err.message).toMatch(/etcdctl 3\.5\.16 \(older than/);
    expect(err.message).toMatch(/of etcd 3\.6 or later/);
  });

  test('same minor (any patch) or newer is accepted; an old etcdutl falls back to a new enough etcdctl', async () => {
    const host = fakeHost({ etcdutl: '3.5.0', etcdctl: '3.5.16' }).host;
    expect(await findRestoreTool({ host, backupVersion: '3.5.16' })).toMatchObject({ kind: 'etcdutl' });
    expect(await findRestoreTool({ host, backupVersion: '3.4.23' })).toMatchObject({ kind: 'etcdutl' });
    const e = await refusal(
      findRestoreTool({ host: fakeHost({ etcdctl: '3.4.23' }).host, backupVersion: '3.5.2' }),
    );
    expect(e.message).toMatch(/etcdctl 3\.4\.23 \(older than the etcd 3\.5\.2/);
  });

  test('version arithmetic', () => {
    expect(compareMinor('3.5.16', '3.6.0')).toBeLessThan(0);
    expect(compareMinor('v3.6.0-rc.1', '3.6.5')).toBe(0);
    expect(compareMinor('3.10.0', '3.9.9')).toBeGreaterThan(0);
    expect(olderThanBackup('3.5.16', undefined)).toBeNull();
    expect(olderThanBackup('3.5.16', 'garbage')).toBeNull();
  });
});

describe('the real tools on PATH', () => {
  const etcdVersion = /etcd Version: (\S+)/.exec(
    execFileSync('etcd', ['--version'], { encoding: 'utf8' }),
  )![1]!;

  test("the tool found is etcd's own of this release (etcdutl on 3.5, etcdctl on 3.4)", async () => {
    const t = await findRestoreTool({ backupVersion: etcdVersion });
    expect(t.version).toBe(etcdVersion);
    expect(t.kind).toBe(etcdVersion.startsWith('3.4.') ? 'etcdctl' : 'etcdutl');
  });

  test('a backup written by a newer etcd (3.6, synthetic version string) is refused with these tools', async () => {
    const err = await refusal(findRestoreTool({ backupVersion: '3.6.0' }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toContain(`${etcdVersion} (older than the etcd 3.6.0 that wrote the backup`);
  });
});
