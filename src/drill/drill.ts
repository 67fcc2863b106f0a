/**
 * A restore drill: the backup restored into a throwaway cluster, checked, timed, and removed.
 *
 * It is the restore pipeline itself (src/restore: plan, fetch and sha256 check, etcd's own restore tool,
 * `local` control, the offline HashKV of the snapshot, verification), pointed at 1 or 3 members on free
 * loopback ports with their data under a temporary directory, run by the etcd whose major.minor matches
 * the backup's (etcd-binaries.ts). The measured RTO is the time from the drill's start to a verified
 * cluster: fetch, restore, start, quorum, verification. Whatever happens, every member it started is
 * stopped and the temporary directory removed; `cleanedUp` says whether that worked.
 *
 * A drill killed with SIGKILL cannot clean up: its detached members keep running and its directory stays.
 * Each drill dir holds `drill.owner` (the pid of the dr process that made it); the next drill in the same
 * parent folder stops the members of every drill dir whose owner is gone and removes the dir
 * (`reapStaleDrills`), so nothing outlives a killed drill by more than one drill.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { DrError, toDrError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Manifest } from '../manifest/manifest.js';
import { localControl, runningPid } from '../restore/control/local.js';
import { executeRestore, type RestoreEvent } from '../restore/execute.js';
import { readJournal } from '../restore/journal.js';
import { parseMembers, type MembersFile, type TargetMember } from '../config/members-file.js';
import { prepareRestore } from '../restore/prepare.js';
import type { VerifyCheck, VerifyReport } from '../restore/verify.js';
import type { Backend } from '../storage/backend.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { findEtcdFor } from './etcd-binaries.js';
import { makeThrowawayTls } from './throwaway-tls.js';

export interface DrillOptions {
  manifest: Manifest;
  backend: Backend;
  /** age identities, for an encrypted backup */
  identities?: AgeIdentities | null;
  /** members of the throwaway cluster @default 1 */
  members?: 1 | 3;
  /** parent of the temporary directory @default os.tmpdir() */
  workDir?: string;
  /** folders to look for the matching etcd in before PATH */
  etcdBinDirs?: readonly string[];
  /** PATH to search: the caller's environment's (the CLI and the daemon pass theirs) */
  pathEnv: string;
  logger?: Logger;
  clock?: Clock;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
  /** @default { quorumMs: 120000, allMs: 300000 } */
  timeouts?: { quorumMs?: number; allMs?: number };
  /**
   * Rehearse the Kubernetes restore: `--bump-revision N --mark-compacted` on every member (as `dr restore`
   * takes it), so the drilled cluster starts at the backup's revision + N, compacted there. Its HashKV then
   * cannot be compared with the backup's (no hash of the snapshot predicts a bumped store's): the revision
   * and the key count are.
   */
  bumpRevision?: number;
}

export interface DrillResult {
  ok: boolean;
  backupId: string;
  cluster: string;
  policy: string | null;
  storage: string;
  members: number;
  /** the etcd that ran the drill (null: none was found) */
  etcdVersion: string | null;
  startedAt: string;
  finishedAt: string;
  /** start to verified cluster, the measured RTO (null when the drill failed) */
  durationSeconds: number | null;
  /** what the backup says (the revision after the bump, with one), and what the restored cluster answered */
  expected: { revision: string; keys: number; keysAre: 'live' | 'total'; hashKV: number | null };
  /** the revision bump the drill rehearsed (null: none) */
  bump: { revision: number; fromRevision: string; toRevision: string } | null;
  found: { revision: string | null; keys: number | null; hashKV: number | null };
  checks: VerifyCheck[];
  error: { code: string; message: string } | null;
  /** every member stopped and the temporary directory removed */
  cleanedUp: boolean;
}

/** Free TCP ports on 127.0.0.1 (bound to 0, read, closed); etcd binds them a moment later. */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
      });
    });
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await one());
  return [...ports];
}

/** the pid of the dr process that made a drill (or replay) directory, for reapStaleDrills */
export const OWNER_FILE = 'drill.owner';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stops the members of drills whose dr process is gone (killed) and removes their directories, in
 * `parent`. Returns the directories removed. A dir without an owner file is left alone unless it is older
 * than a day (a drill killed between mkdtemp and writing the file).
 */
export async function reapStaleDrills(
  parent: string,
  log: Logger = silentLogger,
  prefix = 'dr-drill-',
): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(parent)).filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
  const reaped: string[] = [];
  for (const name of names) {
    const dir = path.join(parent, name);
    const owner = Number((await readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0) {
      if (owner === process.pid || processAlive(owner)) continue;
    } else {
      const { mtimeMs } = await stat(dir).catch(() => ({ mtimeMs: Date.now() }));
      if (Date.now() - mtimeMs < 86_400_000) continue;
    }
    const entries = await readdir(dir).catch(() => [] as string[]);
    const members = entries
      .filter((n) => n.endsWith('.pid'))
      .map((n) => path.join(dir, n.slice(0, -'.pid'.length)));
    let stopped = true;
    for (const dataDir of members) {
      try {
        await localControl({
          member: { name: path.basename(dataDir), dataDir } as TargetMember,
          initialCluster: '',
          token: '',
          stopGraceMs: 5000,
        }).stop();
        if ((await runningPid(dataDir)) !== null) throw new Error('still running');
      } catch (err) {
        stopped = false;
        log.warn(
          { dir, dataDir, err: (err as Error).message },
          'drill: could not stop a member a killed drill left',
        );
      }
    }
    if (!stopped) continue;
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).then(
      () => reaped.push(dir),
      (err: Error) => log.warn({ dir, err: err.message }, 'drill: could not remove what a killed drill left'),
    );
  }
  if (reaped.length > 0) log.info({ dirs: reaped }, 'drill: removed what killed drills left');
  return reaped;
}

export async function runDrill(o: DrillOptions): Promise<DrillResult> {
  const clock = o.clock ?? systemClock;
  const log = (o.logger ?? silentLogger).child({ component: 'drill', backup: o.manifest.id });
  const started = clock.now();
  const t0 = performance.now();
  const n = o.members ?? 1;
  const m = o.manifest;
  const result: DrillResult = {
    ok: false,
    backupId: m.id,
    cluster: m.clusterName,
    policy: m.policy,
    storage: o.backend.location,
    members: n,
    etcdVersion: null,
    startedAt: started.toISOString(),
    finishedAt: started.toISOString(),
    durationSeconds: null,
    expected: {
      revision:
        o.bumpRevision === undefined
          ? m.snapshot.revision
          : (BigInt(m.snapshot.revision) + BigInt(o.bumpRevision)).toString(),
      keys: m.snapshot.liveKeys ?? m.snapshot.totalKeys,
      keysAre: m.snapshot.liveKeys !== null ? 'live' : 'total',
      hashKV: null,
    },
    found: { revision: null, keys: null, hashKV: null },
    bump:
      o.bumpRevision === undefined
        ? null
        : {
            revision: o.bumpRevision,
            fromRevision: m.snapshot.revision,
            toRevision: (BigInt(m.snapshot.revision) + BigInt(o.bumpRevision)).toString(),
          },
    checks: [],
    error: null,
    cleanedUp: false,
  };
  let dir: string | undefined;
  let target: MembersFile | undefined;
  try {
    const bins = await findEtcdFor(m.source.etcdVersion, {
      dirs: o.etcdBinDirs,
      pathEnv: o.pathEnv,
      signal: o.signal,
    });
    result.etcdVersion = bins.version;
    const parent = o.workDir ?? os.tmpdir();
    await reapStaleDrills(parent, log);
    dir = await mkdtemp(path.join(parent, `dr-drill-${m.id}-`));
    await writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`, { mode: 0o600 });
    // settled, not raced: openssl must be done with the directory before a failure removes it
    const [portsMade, certsMade] = await Promise.allSettled([
      freeLoopbackPorts(2 * n),
      makeThrowawayTls(path.join(dir, 'tls'), 'drill', o.signal),
    ]);
    if (portsMade.status === 'rejected') throw portsMade.reason;
    if (certsMade.status === 'rejected') throw certsMade.reason;
    const [ports, certs] = [portsMade.value, certsMade.value];
    // mTLS on client and peer URLs with a CA of the drill's own: only dr reads the restored keyspace, and
    // dr is etcd's root by its certificate (a backup with etcd auth enabled verifies without a password)
    const tls = {
      caFile: certs.caFile,
      certFile: certs.serverCertFile,
      keyFile: certs.serverKeyFile,
      clientCertAuth: true,
    };
    target = parseMembers(
      {
        binaries: { etcd: bins.etcd, etcdctl: bins.etcdctl, etcdutl: bins.etcdutl },
        clientTls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
        // nothing may answer here: the drill's own ports were free a moment ago
        oldCluster: { endpoints: Array.from({ length: n }, (_, i) => `https://127.0.0.1:${ports[2 * i]}`) },
        members: Array.from({ length: n }, (_, i) => ({
          name: `drill-${i + 1}`,
          clientURLs: [`https://127.0.0.1:${ports[2 * i]}`],
          peerURLs: [`https://127.0.0.1:${ports[2 * i + 1]}`],
          dataDir: path.join(dir!, `drill-${i + 1}`),
          control: { type: 'local' },
          tls,
          peerTls: tls,
        })),
      },
      'drill target',
    );
    const snapshotFile = path.join(dir, `${m.id}.db`);
    const plan = await prepareRestore({
      manifest: m,
      target,
      now: clock.now(),
      snapshotFile,
      signal: o.signal,
      ...(o.bumpRevision !== undefined ? { bumpRevision: o.bumpRevision } : {}),
    });
    // a tool that cannot bump is refused by executeRestore before anything runs (RESTORE_REFUSED), as in
    // `dr restore`
    log.info(
      { members: n, etcd: bins.version, dir, bump: o.bumpRevision ?? null },
      'drill: restoring into a throwaway cluster',
    );
    const r = await executeRestore(plan, {
      manifest: m,
      source: { backend: o.backend, identities: o.identities },
      journalFile: path.join(dir, 'drill.journal.json'),
      workDir: dir,
      logger: o.logger,
      clock,
      signal: o.signal,
      onEvent: o.onEvent,
      timeouts: o.timeouts,
    });
    result.durationSeconds = (performance.now() - t0) / 1000;
    fill(result, r.verification);
    result.ok = r.ok;
  } catch (err) {
    const e = toDrError(err, 'INTERNAL', 'drill');
    // the restore's failure text tells how to resume or roll back a real restore; a drill has neither
    result.error = { code: e.code, message: e.message.split('\n')[0]! };
    const report = (e.details as { checks?: VerifyCheck[] }).checks;
    if (Array.isArray(report)) result.checks = report;
    log.warn({ code: e.code, err: result.error.message }, 'drill failed');
  } finally {
    if (dir) {
      const j = await readJournal(path.join(dir, 'drill.journal.json')).catch(() => null);
      if (j?.offlineHashKV) result.expected.hashKV = j.offlineHashKV.hash;
    }
    result.cleanedUp = await cleanUp(target, dir, log);
    result.finishedAt = clock.now().toISOString();
  }
  return result;
}

function fill(result: DrillResult, v: VerifyReport): void {
  result.checks = v.checks;
  result.found = {
    revision: v.revision,
    keys: v.keyCount,
    hashKV: Object.values(v.hashKV)[0] ?? null,
  };
}

async function cleanUp(
  target: MembersFile | undefined,
  dir: string | undefined,
  log: Logger,
): Promise<boolean> {
  let ok = true;
  if (target) {
    for (const member of target.members) {
      try {
        await localControl({ member, initialCluster: '', token: '', stopGraceMs: 5000 }).stop();
        if ((await runningPid(member.dataDir)) !== null) throw new Error('still running');
      } catch (err) {
        ok = false;
        log.error({ member: member.name, err: (err as Error).message }, 'drill: could not stop a member');
      }
    }
  }
  if (dir) {
    try {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      ok = false;
      log.error({ dir, err: (err as Error).message }, 'drill: could not remove the temporary directory');
    }
  }
  return ok;
}

/** The exit code of a finished drill: 0 verified, 1 the backup did not restore to what it says, else the error's. */
export function drillError(r: DrillResult): DrError | null {
  if (r.ok) return null;
  const code = (r.error?.code ?? 'VERIFY_FAILED') as ConstructorParameters<typeof DrError>[0];
  return new DrError(code, `drill of backup ${r.backupId}: ${r.error?.message ?? 'verification failed'}`);
}
