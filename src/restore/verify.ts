/**
 * Verification after a restore: nobody is told it worked until every check below passed. Checks are
 * collected, never thrown on the first failure; each says what was expected and what was found.
 */
import { formatId } from './ids.js';
import type { ClusterProbe } from './probe.js';

export interface VerifyExpectations {
  /** name and client URL of every member, as planned */
  members: { name: string; memberId: string; clientURL: string }[];
  clusterId: string;
  oldClusterId: string;
  revision: bigint;
  /** live keys, when the backup knows them */
  liveKeys?: number;
  /** the backup's key-bucket entries (all revisions, as `snapshot status` counts them) */
  totalKeys: number;
  /** HashKV at `revision` computed from the backup's snapshot file itself (the hash-offline step) */
  offlineHash?: number;
}

export interface VerifyCheck {
  name: 'health' | 'members' | 'leader' | 'cluster-id' | 'revision' | 'key-count' | 'hashkv';
  ok: boolean;
  /** false: could not be decided with what the backup records (not a failure) */
  decided: boolean;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  checks: VerifyCheck[];
  leader: string | null;
  clusterId: string | null;
  revision: string | null;
  keyCount: number | null;
  hashKV: Record<string, number>;
}

export async function verifyRestore(
  probe: ClusterProbe,
  exp: VerifyExpectations,
  signal?: AbortSignal,
): Promise<VerifyReport> {
  const checks: VerifyCheck[] = [];
  const add = (name: VerifyCheck['name'], ok: boolean, message: string, decided = true) =>
    checks.push({ name, ok, decided, message });

  // every question at once (health, status, member list, key counts, HashKV): the answers are checked in
  // order below, but none depends on another, and a verification is part of the measured RTO
  const asked = {
    health: Promise.all(exp.members.map((m) => probe.health(m.clientURL, signal).catch(() => false))),
    statuses: Promise.all(exp.members.map((m) => probe.status(m.clientURL).catch((e: Error) => e))),
    list: settle(probe.memberList()),
    counts: settle(Promise.all(exp.members.map((m) => probe.keyCount(m.clientURL, signal)))),
    hashes: settle(Promise.all(exp.members.map((m) => probe.hashKV(m.clientURL, exp.revision)))),
  };
  const health = await asked.health;
  const sick = exp.members.filter((_, i) => !health[i]).map((m) => m.name);
  add(
    'health',
    sick.length === 0,
    sick.length ? `not healthy: ${sick.join(', ')}` : `all ${exp.members.length} members healthy`,
  );

  const statuses = await asked.statuses;
  const ok = statuses.flatMap((s) => (s instanceof Error ? [] : [s]));

  try {
    const list = unwrap(await asked.list);
    const listed = new Map(list.map((m) => [formatId(m.id), m]));
    const missing = exp.members
      .filter((m) => listed.get(m.memberId)?.name !== m.name)
      .map((m) => `${m.name} (${m.memberId})`);
    const extra = list
      .filter((m) => !exp.members.some((e) => e.memberId === formatId(m.id)))
      .map((m) => formatId(m.id));
    add(
      'members',
      missing.length === 0 && extra.length === 0,
      missing.length || extra.length
        ? `member list: missing or unnamed ${missing.join(', ') || 'none'}; unexpected ${extra.join(', ') || 'none'}`
        : `member list has exactly the ${exp.members.length} planned members`,
    );
  } catch (err) {
    add('members', false, `member list failed: ${(err as Error).message}`);
  }

  const leaders = new Set(ok.map((s) => formatId(s.leaderId)));
  const leader = leaders.size === 1 ? [...leaders][0]! : null;
  const leaderKnown = leader !== null && leader !== '0' && exp.members.some((m) => m.memberId === leader);
  add(
    'leader',
    ok.length === exp.members.length && leaderKnown,
    leaderKnown
      ? `one leader, ${leader}, seen by every member`
      : `leaders seen: ${[...leaders].join(', ') || 'none'} (${ok.length}/${exp.members.length} answered)`,
  );

  const cids = new Set(ok.map((s) => formatId(s.clusterId)));
  const cid = cids.size === 1 ? [...cids][0]! : null;
  add(
    'cluster-id',
    cid === exp.clusterId && cid !== exp.oldClusterId.toLowerCase(),
    `cluster ID ${[...cids].join(', ') || 'unknown'} (planned ${exp.clusterId}, old ${exp.oldClusterId})`,
  );

  const revs = new Set(ok.map((s) => s.revision.toString()));
  const rev = revs.size === 1 ? [...revs][0]! : null;
  add(
    'revision',
    rev === exp.revision.toString(),
    `revision ${[...revs].join(', ') || 'unknown'} (backup ${exp.revision})`,
  );

  let keyCount: number | null = null;
  try {
    const counts = unwrap(await asked.counts);
    const distinct = new Set(counts.map((c) => c.count));
    keyCount = counts[0]!.count;
    if (distinct.size !== 1)
      add('key-count', false, `members disagree on the key count: ${[...distinct].join(', ')}`);
    else if (exp.liveKeys !== undefined)
      add('key-count', keyCount === exp.liveKeys, `${keyCount} keys (backup ${exp.liveKeys})`);
    else if (keyCount === exp.totalKeys) add('key-count', true, `${keyCount} keys (backup ${exp.totalKeys})`);
    else if (keyCount < exp.totalKeys) {
      add(
        'key-count',
        true,
        `${keyCount} live keys; the backup records ${exp.totalKeys} key entries including older revisions, so the live count cannot be compared`,
        false,
      );
    } else add('key-count', false, `${keyCount} keys, more than the backup's ${exp.totalKeys} entries`);
  } catch (err) {
    add('key-count', false, `key count failed: ${(err as Error).message}`);
  }

  const hashKV: Record<string, number> = {};
  try {
    const hs = unwrap(await asked.hashes);
    exp.members.forEach((m, i) => (hashKV[m.name] = hs[i]!.hash));
    const distinct = new Set(hs.map((h) => h.hash));
    const same = distinct.size === 1;
    const asBackup = exp.offlineHash === undefined || (same && hs[0]!.hash === exp.offlineHash);
    add(
      'hashkv',
      same && asBackup,
      !same
        ? `HashKV differs: ${JSON.stringify(hashKV)}`
        : !asBackup
          ? `HashKV at revision ${exp.revision} is ${hs[0]!.hash} on every member, but the backup's own (computed offline from the snapshot file) is ${exp.offlineHash}`
          : exp.offlineHash === undefined
            ? `HashKV at revision ${exp.revision} is ${hs[0]!.hash} on every member`
            : `HashKV at revision ${exp.revision} is ${hs[0]!.hash} on every member, equal to the backup's own (computed offline from the snapshot file)`,
    );
  } catch (err) {
    add('hashkv', false, `HashKV failed: ${(err as Error).message}`);
  }

  return { ok: checks.every((c) => c.ok), checks, leader, clusterId: cid, revision: rev, keyCount, hashKV };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** a question asked now whose failure is looked at later, where its check is made */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

function unwrap<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}
