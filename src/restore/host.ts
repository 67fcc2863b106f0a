/**
 * A member's host: where its data dir lives and where the restore tool runs. Either this machine, or the
 * far end of the member's ssh command prefix (systemd control with `ssh:`). Every file operation a restore
 * performs on a member goes through here, so the executor does not care which it is.
 */
import { spawn } from 'node:child_process';
import { constants as fsc, createReadStream } from 'node:fs';
import { access, chmod, readFile, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { fsyncDir } from '../core/safe-file.js';
import type { DirFact, FileOwner } from './dir-facts.js';
import { shellLine, shellQuote } from './shell-line.js';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  env?: Record<string, string>;
}

export interface MemberHost {
  /** "local" or the ssh prefix, for messages */
  readonly label: string;
  readonly remote: boolean;
  run(argv: string[], opts?: RunOptions): Promise<CommandResult>;
  inspectDir(p: string, kind: 'data' | 'wal'): Promise<DirFact>;
  /** free bytes on the filesystem that holds p (or its nearest existing ancestor); null if unknown */
  freeBytes(p: string): Promise<number | null>;
  exists(p: string): Promise<boolean>;
  /** rename within one filesystem; durable (the parent directory is fsynced) */
  rename(from: string, to: string): Promise<void>;
  /** removes a tree dr itself created (staging dirs only; never an operator's data) */
  removeOwnTree(p: string): Promise<void>;
  /** numeric owner, group and permission bits of p; null when it does not exist */
  ownerOf(p: string): Promise<FileOwner | null>;
  /** chown -R owner p, then chmod mode p (owner: "user[:group]" or "uid:gid") */
  setOwner(p: string, owner: string | null, mode: number): Promise<void>;
  /** a (small, text) file's content, e.g. a TLS certificate the member will use */
  readText(p: string): Promise<string>;
  /** makes a local file available on the host; returns its path there */
  upload(localFile: string, signal?: AbortSignal): Promise<string>;
}

export function runCommand(
  argv: string[],
  opts: RunOptions & { stdin?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    // the child inherits this process's environment; added variables go in front through env(1)
    const extra = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
    const [cmd, ...args] = extra.length > 0 ? ['env', ...extra, ...argv] : argv;
    const child = spawn(cmd!, args, {
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        resolve({ code: 127, stdout, stderr: `${cmd}: not found` });
      else reject(err);
    });
    child.on('close', (code, sig) => resolve({ code: code ?? (sig ? 128 : 1), stdout, stderr }));
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
  });
}

const ETCD_DATA_ENTRIES = /^(member|lost\+found)$/;
const ETCD_WAL_ENTRIES = /(\.wal|\.tmp)$|^lost\+found$/;

/** What an existing directory holds, the same whether it was read here or through ssh. */
function existingDirFact(p: string, entries: string[], mountPoint: boolean, kind: 'data' | 'wal'): DirFact {
  if (entries.length === 0) return { path: p, state: 'empty', mountPoint };
  return {
    path: p,
    state: 'non-empty',
    mountPoint,
    entries: entries.slice(0, 20),
    looksLikeEtcd: looksLikeEtcd(entries, kind),
  };
}

function looksLikeEtcd(entries: string[], kind: 'data' | 'wal'): boolean {
  const re = kind === 'data' ? ETCD_DATA_ENTRIES : ETCD_WAL_ENTRIES;
  return entries.every((e) => re.test(e)) && entries.some((e) => e !== 'lost+found');
}

export const localHost: MemberHost = {
  label: 'local',
  remote: false,
  run: (argv, opts) => runCommand(argv, opts),
  async inspectDir(p, kind) {
    let st;
    try {
      st = await stat(p);
    } catch {
      return { path: p, state: 'missing' };
    }
    if (!st.isDirectory()) return { path: p, state: 'not-a-directory' };
    const parent = await stat(path.dirname(p));
    const mountPoint = parent.dev !== st.dev;
    return existingDirFact(p, (await readdir(p)).sort(), mountPoint, kind);
  },
  async freeBytes(p) {
    let dir = p;
    for (;;) {
      try {
        const s = await statfs(dir);
        return s.bavail * s.bsize;
      } catch {
        const up = path.dirname(dir);
        if (up === dir) return null;
        dir = up;
      }
    }
  },
  async exists(p) {
    try {
      await access(p, fsc.F_OK);
      return true;
    } catch {
      return false;
    }
  },
  async rename(from, to) {
    await rename(from, to);
    await fsyncDir(path.dirname(to));
    if (path.dirname(from) !== path.dirname(to)) await fsyncDir(path.dirname(from));
  },
  async removeOwnTree(p) {
    await rm(p, { recursive: true, force: true });
  },
  readText: (p) => readFile(p, 'utf8'),
  async ownerOf(p) {
    try {
      const st = await stat(p);
      return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
    } catch {
      return null;
    }
  },
  async setOwner(p, owner, mode) {
    if (owner !== null) {
      const r = await runCommand(['chown', '-R', owner, p]);
      if (r.code !== 0)
        throw new DrError(
          'RESTORE_REFUSED',
          `restore: chown -R ${owner} ${p} failed: ${r.stderr.trim() || `exit ${r.code}`} (run dr as root, or set the member's owner:)`,
        );
    }
    await chmod(p, mode);
  },
  async upload(localFile) {
    return localFile;
  },
};

/**
 * A host reached through a command prefix such as "ssh -i key root@host". The prefix is split on
 * whitespace (no quoting); the remote command is appended as ONE argument, as ssh passes it to the
 * remote shell.
 */
export function sshHost(prefix: string, run: typeof runCommand = runCommand): MemberHost {
  const pre = prefix.trim().split(/\s+/);
  const sh = async (script: string, opts?: RunOptions & { stdin?: string }) => run([...pre, script], opts);
  const must = async (script: string, what: string, opts?: RunOptions) => {
    const r = await sh(script, opts);
    if (r.code !== 0) {
      throw new DrError(
        'ETCD_REQUEST_FAILED',
        `restore: ${what} on ${prefix} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
      );
    }
    return r;
  };
  return {
    label: prefix,
    remote: true,
    run: (argv, opts) => {
      const env = Object.entries(opts?.env ?? {}).map(([k, v]) => `${k}=${v}`);
      return sh(shellLine(env.length ? ['env', ...env, ...argv] : argv), opts);
    },
    async inspectDir(p, kind) {
      const q = shellQuote(p);
      const r = await must(
        `if [ ! -e ${q} ]; then echo missing; elif [ ! -d ${q} ]; then echo notdir; else echo dir; ` +
          `stat -c %d ${q}; stat -c %d ${q}/..; ls -A ${q}; fi`,
        `inspecting ${p}`,
      );
      const lines = r.stdout.split('\n').filter(Boolean);
      if (lines[0] === 'missing') return { path: p, state: 'missing' };
      if (lines[0] === 'notdir') return { path: p, state: 'not-a-directory' };
      const mountPoint = lines[1] !== lines[2];
      return existingDirFact(p, lines.slice(3).sort(), mountPoint, kind);
    },
    async freeBytes(p) {
      const r = await sh(
        `d=${shellQuote(p)}; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d" | tail -1`,
      );
      const kb = Number(r.stdout.trim().split(/\s+/)[3]);
      return r.code === 0 && Number.isFinite(kb) ? kb * 1024 : null;
    },
    async exists(p) {
      return (await sh(`test -e ${shellQuote(p)}`)).code === 0;
    },
    async rename(from, to) {
      await must(`mv -T ${shellQuote(from)} ${shellQuote(to)} && sync`, `moving ${from} to ${to}`);
    },
    async removeOwnTree(p) {
      await must(`rm -rf ${shellQuote(p)}`, `removing ${p}`);
    },
    async ownerOf(p) {
      const r = await sh(`stat -c '%u %g %a' ${shellQuote(p)}`);
      const [uid, gid, mode] = r.stdout.trim().split(' ');
      if (r.code !== 0 || mode === undefined) return null;
      return { uid: Number(uid), gid: Number(gid), mode: parseInt(mode, 8) };
    },
    async setOwner(p, owner, mode) {
      const q = shellQuote(p);
      await must(
        `${owner !== null ? `chown -R ${shellQuote(owner)} ${q} && ` : ''}chmod ${mode.toString(8)} ${q}`,
        `setting the owner of ${p}`,
      );
    },
    async readText(p) {
      return (await must(`cat ${shellQuote(p)}`, `reading ${p}`)).stdout;
    },
    async upload(localFile, signal) {
      // a private name (mktemp), created 0600 (umask 077): the snapshot holds every secret of the cluster.
      // Streams the file through the prefix's stdin; the prefix is the operator's, so no scp options to guess.
      return new Promise<string>((resolve, reject) => {
        const child = spawn(
          pre[0]!,
          [
            ...pre.slice(1),
            `umask 077 && t=$(mktemp /tmp/dr-restore-XXXXXXXXXX.db) && cat > "$t" && echo "$t"`,
          ],
          { stdio: ['pipe', 'pipe', 'pipe'], signal },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          const remote = out.trim().split('\n').at(-1) ?? '';
          if (code === 0 && remote.startsWith('/tmp/dr-restore-')) resolve(remote);
          else
            reject(
              new DrError(
                'ETCD_REQUEST_FAILED',
                `restore: upload to ${prefix} failed: ${err.trim() || `exit ${code}`}`,
              ),
            );
        });
        // a local read error ends the upload with that error (the remote cat then sees EOF and exits)
        const src = createReadStream(localFile);
        src.once('error', (e) => {
          child.kill();
          reject(
            new DrError(
              'ETCD_REQUEST_FAILED',
              `restore: upload to ${prefix}: cannot read ${localFile}: ${e.message}`,
            ),
          );
        });
        child.stdin.once('error', () => undefined); // the close handler reports a remote that went away
        src.pipe(child.stdin);
      });
    },
  };
}
