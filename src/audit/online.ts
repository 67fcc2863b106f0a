/**
 * Online audit (`dr audit --endpoints ...`): asks every member for its status, the alarms and the member list,
 * then HashKV of every reachable member at ONE revision (the lowest current revision among them, so every
 * member has it) and compares the hashes, as etcd's own corruption check does (after a compaction at exactly that
 * revision, at the members' current revision instead: see hashEveryMember). compareBackupWithCluster does the same
 * for a backup's offline HashKV against every member (`dr audit --backup ID --endpoints`). Findings name the endpoint
 * (Finding.file) and the member (location.member, 16-digit hex).
 *
 * Vocabulary: an *endpoint* is what the operator passed; a *member* is an entry of the member list. They are
 * matched by the member ID a status answer carries, or for an endpoint that does not answer by its host:port
 * among the members' client URLs.
 *
 * Over 400 lines on purpose: the member probes, the HashKV comparison and the backup-vs-cluster comparison
 * share the per-member result types and the revision choice.
 */
import type { EtcdClient } from '../etcd/client.js';
import type { EndpointStatus, HashKVResult, Member, MemberStatus } from '../etcd/types.js';
import { hexId } from '../formats/raft/member-json.js';
import { finding } from './codes.js';
import type { Finding } from './finding.js';
import { makeReport, type AuditReport } from './report.js';

export type OnlineClient = Pick<EtcdClient, 'endpoints' | 'statusAll' | 'memberList' | 'alarms' | 'hashKV'>;

export interface OnlineAuditOptions {
  /** the members' --quota-backend-bytes @default 2 GiB (etcd's default) */
  quotaBytes?: bigint;
  /** raft index lag (entries) behind the most advanced member that makes a warning @default 1000 */
  lagEntries?: bigint;
  signal?: AbortSignal;
}

export const DEFAULT_QUOTA_BYTES = 2n * 1024n * 1024n * 1024n;

/** host:port of an endpoint or client URL, lowercased, for matching the two. */
export function hostPort(endpoint: string): string {
  const s = endpoint.trim().toLowerCase();
  const noScheme = s.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return noScheme;
}

const pct = (a: bigint, b: bigint): string => `${((Number(a) / Number(b)) * 100).toFixed(1)}%`;
const mib = (n: bigint): string => `${(Number(n) / 1048576).toFixed(1)} MiB`;

interface MemberFacts {
  endpoint: string;
  reachable: boolean;
  error?: string;
  memberId?: string;
  name?: string;
  version?: string;
  leader?: string;
  revision?: bigint;
  raftIndex?: bigint;
  raftAppliedIndex?: bigint;
  raftTerm?: bigint;
  dbSize?: bigint;
  dbSizeInUse?: bigint;
  isLearner?: boolean;
  hash?: number;
  compactRevision?: bigint;
}

export async function auditCluster(
  client: OnlineClient,
  opts: OnlineAuditOptions = {},
): Promise<AuditReport> {
  const quota = opts.quotaBytes ?? DEFAULT_QUOTA_BYTES;
  const lagLimit = opts.lagEntries ?? 1000n;
  const target = { kind: 'cluster' as const, endpoints: [...client.endpoints] };
  const findings: Finding[] = [];
  const statuses: EndpointStatus[] = await client.statusAll();
  opts.signal?.throwIfAborted();
  const up = statuses.filter((s) => s.status);

  let members: Member[] | null = null;
  let memberListError: string | null = null;
  if (up.length > 0) {
    try {
      members = await client.memberList();
    } catch (err) {
      memberListError = (err as Error).message;
    }
  }
  const byId = new Map((members ?? []).map((m) => [m.id, m]));
  const memberOfEndpoint = (ep: string): Member | undefined =>
    members?.find((m) => m.clientURLs.some((u) => hostPort(u) === hostPort(ep)));

  const facts: MemberFacts[] = statuses.map((s) => {
    if (!s.status) {
      const m = memberOfEndpoint(s.endpoint);
      return {
        endpoint: s.endpoint,
        reachable: false,
        error: s.error?.message ?? 'no answer',
        ...(m ? { memberId: hexId(m.id), name: m.name } : {}),
      };
    }
    const st = s.status;
    return {
      endpoint: s.endpoint,
      reachable: true,
      memberId: hexId(st.memberId),
      ...(byId.get(st.memberId) ? { name: byId.get(st.memberId)!.name } : {}),
      version: st.version,
      leader: hexId(st.leaderId),
      revision: st.revision,
      raftIndex: st.raftIndex,
      raftAppliedIndex: st.raftAppliedIndex,
      raftTerm: st.raftTerm,
      dbSize: st.dbSize,
      dbSizeInUse: st.dbSizeInUse,
      isLearner: st.isLearner,
    };
  });

  // ---- reachability
  if (up.length === 0) {
    findings.push(
      finding(
        'CLUSTER_UNREACHABLE',
        `no endpoint answered: ${statuses.map((s) => `${s.endpoint}: ${s.error?.message ?? 'no answer'}`).join('; ')}`,
      ),
    );
    return makeReport(target, findings, { members: facts, quotaBytes: quota });
  }
  for (const f of facts)
    if (!f.reachable)
      findings.push(
        finding(
          'MEMBER_UNREACHABLE',
          `${f.endpoint}${f.memberId ? ` (member ${f.name || f.memberId})` : ''} does not answer: ${f.error}`,
          { file: f.endpoint, ...(f.memberId ? { location: { member: f.memberId } } : {}) },
        ),
      );

  // ---- cluster identity, leader, terms, lag
  const ok = up.map((s) => s.status!);
  const clusterIds = new Map<bigint, string[]>();
  for (const s of ok) clusterIds.set(s.clusterId, [...(clusterIds.get(s.clusterId) ?? []), s.endpoint]);
  if (clusterIds.size > 1)
    findings.push(
      finding(
        'CLUSTER_ID_MISMATCH',
        `endpoints disagree on the cluster ID: ${[...clusterIds].map(([c, e]) => `${hexId(c)} (${e.join(', ')})`).join(' vs ')}`,
      ),
    );
  for (const s of ok)
    if (s.leaderId === 0n)
      findings.push(
        finding('MEMBER_NO_LEADER', `${s.endpoint} (member ${hexId(s.memberId)}) sees no leader`, {
          file: s.endpoint,
          location: { member: hexId(s.memberId) },
        }),
      );
  const leaders = new Set(ok.filter((s) => s.leaderId !== 0n).map((s) => s.leaderId));
  if (leaders.size > 1)
    findings.push(
      finding(
        'LEADER_DISAGREEMENT',
        `members name different leaders: ${ok.map((s) => `${s.endpoint} -> ${hexId(s.leaderId)}`).join(', ')} (a network partition, or an election in progress: audit again)`,
      ),
    );
  const terms = new Set(ok.map((s) => s.raftTerm));
  if (terms.size > 1)
    findings.push(
      finding(
        'RAFT_TERM_MISMATCH',
        `members are at different raft terms: ${ok.map((s) => `${s.endpoint} term ${s.raftTerm}`).join(', ')}`,
      ),
    );
  const maxIndex = ok.reduce((m, s) => (s.raftIndex > m ? s.raftIndex : m), 0n);
  for (const s of ok)
    if (maxIndex - s.raftIndex > lagLimit)
      findings.push(
        finding(
          'MEMBER_LAGGING',
          `${s.endpoint} (member ${hexId(s.memberId)}) is at raft index ${s.raftIndex}, ${maxIndex - s.raftIndex} entries behind the most advanced member (${maxIndex})`,
          { file: s.endpoint, location: { member: hexId(s.memberId), index: s.raftIndex.toString() } },
        ),
      );
  for (const s of ok)
    if (s.errors.length > 0)
      findings.push(
        finding('MEMBER_ERRORS', `${s.endpoint} reports: ${s.errors.join('; ')}`, {
          file: s.endpoint,
          location: { member: hexId(s.memberId) },
        }),
      );

  // ---- db size against the quota
  for (const s of ok) {
    const where = { file: s.endpoint, location: { member: hexId(s.memberId) } };
    if (s.dbSize >= quota)
      findings.push(
        finding(
          'DB_SIZE_OVER_QUOTA',
          `${s.endpoint}: db size ${mib(s.dbSize)} is at or above the quota ${mib(quota)}: etcd raises NOSPACE and refuses writes`,
          where,
        ),
      );
    else if (s.dbSize * 10n >= quota * 8n)
      findings.push(
        finding(
          'DB_SIZE_NEAR_QUOTA',
          `${s.endpoint}: db size ${mib(s.dbSize)} is ${pct(s.dbSize, quota)} of the quota ${mib(quota)} (${mib(s.dbSizeInUse)} in use)`,
          where,
        ),
      );
    if (s.dbSizeInUse > 0n && s.dbSize - s.dbSizeInUse > s.dbSize / 2n && s.dbSize > 64n * 1048576n)
      findings.push(
        finding(
          'DB_FRAGMENTED',
          `${s.endpoint}: only ${mib(s.dbSizeInUse)} of the ${mib(s.dbSize)} db file is in use; a defragmentation would give back ${mib(s.dbSize - s.dbSizeInUse)}`,
          where,
        ),
      );
  }

  // ---- alarms
  try {
    for (const a of await client.alarms()) {
      const m = byId.get(a.memberId);
      const who = `member ${hexId(a.memberId)}${m?.name ? ` (${m.name})` : ''}`;
      const ep = ok.find((s) => s.memberId === a.memberId)?.endpoint;
      const where = { ...(ep ? { file: ep } : {}), location: { member: hexId(a.memberId) } };
      if (a.alarm === 'NOSPACE')
        findings.push(
          finding(
            'ALARM_NOSPACE',
            `NOSPACE alarm raised by ${who}: the cluster accepts only reads and deletes until the space is reclaimed and the alarm disarmed`,
            where,
          ),
        );
      else if (a.alarm === 'CORRUPT')
        findings.push(
          finding(
            'ALARM_CORRUPT',
            `CORRUPT alarm raised for ${who}: etcd's corruption check found its data differs from the others`,
            where,
          ),
        );
      else if (a.alarm !== 'NONE')
        findings.push(finding('ALARM_OTHER', `${a.alarm} alarm raised by ${who}`, where));
    }
  } catch (err) {
    findings.push(
      finding('MEMBER_ERRORS', `the alarm list could not be read: ${(err as Error).message}`, {
        severity: 'warning',
      }),
    );
  }

  // ---- member list against the endpoints
  if (members) {
    for (const s of ok)
      if (!byId.has(s.memberId))
        findings.push(
          finding(
            'ENDPOINT_NOT_MEMBER',
            `${s.endpoint} answers as member ${hexId(s.memberId)} of cluster ${hexId(s.clusterId)}, which is not in the member list [${members.map((m) => hexId(m.id)).join(', ')}]: a removed member still running, or an endpoint of another cluster`,
            { file: s.endpoint, location: { member: hexId(s.memberId) } },
          ),
        );
    const seen = new Set(ok.map((s) => s.memberId));
    for (const m of members) {
      if (seen.has(m.id)) continue;
      const viaEndpoint = facts.find((f) => !f.reachable && f.memberId === hexId(m.id));
      if (viaEndpoint) continue; // already MEMBER_UNREACHABLE
      if (m.clientURLs.length === 0)
        findings.push(
          finding(
            'MEMBER_NOT_STARTED',
            `member ${hexId(m.id)} (peer ${m.peerURLs.join(', ')}) was added but has never started (no client URLs published)`,
            { location: { member: hexId(m.id) } },
          ),
        );
      else
        findings.push(
          finding(
            'MEMBER_NOT_AUDITED',
            `member ${m.name || hexId(m.id)} (${m.clientURLs.join(', ')}) is not among the endpoints given: its status and hash were not checked (pass every member's endpoint)`,
            { location: { member: hexId(m.id) } },
          ),
        );
    }
  } else if (memberListError)
    findings.push(
      finding('MEMBER_ERRORS', `the member list could not be read: ${memberListError}`, {
        severity: 'warning',
      }),
    );

  // ---- HashKV at one common revision
  // learners hold the same key space: they are hashed too
  const voters = ok;
  const common = voters.reduce(
    (m, s) => (m === null || s.revision < m ? s.revision : m),
    null as bigint | null,
  );
  let hashRevision = common;
  if (common !== null && common > 0n) {
    const asked = await hashEveryMember(client, voters, common);
    hashRevision = asked.revision;
    const hashes: HashKVResult[] = [];
    for (const { s, r, err } of asked.results) {
      const f = facts.find((x) => x.endpoint === s.endpoint)!;
      if (r) {
        hashes.push(r);
        f.hash = r.hash;
        f.compactRevision = r.compactRevision;
      } else
        findings.push(
          finding(
            'HASHKV_FAILED',
            `${s.endpoint}: HashKV at revision ${asked.revision} failed: ${err!.message} (its key space was not compared)`,
            { file: s.endpoint, location: { member: hexId(s.memberId) } },
          ),
        );
    }
    findings.push(...compareHashes(hashes, asked.revision));
  }

  return makeReport(target, findings, {
    clusterId: ok[0] ? hexId(ok[0].clusterId) : null,
    leader: leaders.size === 1 ? hexId([...leaders][0]!) : null,
    quotaBytes: quota,
    hashRevision,
    members: facts,
    memberList: members?.map((m) => ({ ...m, id: hexId(m.id) })) ?? null,
  });
}

const COMPACTED_TEXT = /required revision has been compacted/i;

interface Asked {
  s: MemberStatus;
  r?: HashKVResult;
  err?: Error;
}

async function askAll(client: OnlineClient, members: readonly MemberStatus[], rev: bigint): Promise<Asked[]> {
  return Promise.all(
    members.map(async (s) => {
      try {
        return { s, r: await client.hashKV(s.endpoint, rev) };
      } catch (err) {
        return { s, err: err as Error };
      }
    }),
  );
}

/**
 * HashKV of every member at `rev`, at a revision where the answers can be compared.
 *
 * etcd 3.5 (seen with 3.5.16; not 3.4) keeps the hash computed while compacting (revision = the compact revision, compact
 * revision = the PREVIOUS one) and answer HashKV at exactly that revision from it, while a member restarted
 * since the compaction computes it afresh and reports the compaction itself as its compact revision. So after a
 * compaction at the current revision, HashKV at that revision differs between members without any divergence.
 * Such answers are recognised by a compact revision at or above the revision asked. etcd 3.4 instead refuses
 * HashKV at exactly the compact revision ("required revision has been compacted"). In both cases the members are then
 * asked at a revision above every compact revision: their current one (HashKV at 0 is never answered from the
 * cache) when they all stand at the same revision, else the lowest current revision they answered, when that
 * is above every compact revision. Otherwise the first answers are kept (compareHashes then warns).
 * Returns the revision of the answers kept.
 */
async function hashEveryMember(
  client: OnlineClient,
  members: readonly MemberStatus[],
  rev: bigint,
): Promise<{ revision: bigint; results: Asked[] }> {
  const first = await askAll(client, members, rev);
  const answered = first.flatMap((a) => (a.r ? [a.r] : []));
  const compacts = new Set(answered.map((r) => r.compactRevision));
  const maxCompact = answered.reduce((m, r) => (r.compactRevision > m ? r.compactRevision : m), -1n);
  const cached = compacts.size > 1 && maxCompact >= rev;
  const refused = first.some((a) => a.err && COMPACTED_TEXT.test(a.err.message));
  if (!cached && !refused) return { revision: rev, results: first };
  const now = await askAll(client, members, 0n);
  if (now.some((a) => !a.r)) return { revision: rev, results: first };
  const revs = new Set(now.map((a) => a.r!.revision));
  const nowCompacts = new Set(now.map((a) => a.r!.compactRevision));
  if (revs.size === 1 && nowCompacts.size === 1) return { revision: [...revs][0]!, results: now };
  const lowest = now.reduce((m, a) => (a.r!.revision < m ? a.r!.revision : m), now[0]!.r!.revision);
  const highestCompact = now.reduce((m, a) => (a.r!.compactRevision > m ? a.r!.compactRevision : m), -1n);
  if (lowest > highestCompact) return { revision: lowest, results: await askAll(client, members, lowest) };
  return { revision: rev, results: first };
}

/**
 * Compares HashKV answers taken at one revision. Members with different compact revisions are compared only
 * within their group (a compaction not yet applied everywhere changes the hash legitimately). Within a group,
 * members that differ from the majority hash are named; with no majority every member is.
 */
export function compareHashes(results: readonly HashKVResult[], revision: bigint): Finding[] {
  const out: Finding[] = [];
  const byCompact = new Map<bigint, HashKVResult[]>();
  for (const r of results) byCompact.set(r.compactRevision, [...(byCompact.get(r.compactRevision) ?? []), r]);
  if (byCompact.size > 1)
    out.push(
      finding(
        'HASH_COMPACT_DIFFERS',
        `members report different compact revisions at revision ${revision}: ${results.map((r) => `${hexId(r.memberId)} ${r.compactRevision}`).join(', ')}; hashes are compared only between members with the same one (audit again once the compaction has been applied everywhere)`,
      ),
    );
  const table = results.map((r) => `${hexId(r.memberId)} (${r.endpoint}) ${r.hash}`).join(', ');
  for (const group of byCompact.values()) {
    const byHash = new Map<number, HashKVResult[]>();
    for (const r of group) byHash.set(r.hash, [...(byHash.get(r.hash) ?? []), r]);
    if (byHash.size <= 1) continue;
    const [majorityHash, majority] = [...byHash].sort((a, b) => b[1].length - a[1].length)[0]!;
    const hasMajority = majority.length * 2 > group.length;
    for (const r of group) {
      if (hasMajority && r.hash === majorityHash) continue;
      out.push(
        finding(
          'HASH_DIVERGENCE',
          hasMajority
            ? `member ${hexId(r.memberId)} (${r.endpoint}) hashes its key space at revision ${revision} to ${r.hash}, the majority to ${majorityHash}: its data diverges (HashKV: ${table})`
            : `no majority agrees on the key-space hash at revision ${revision}: member ${hexId(r.memberId)} (${r.endpoint}) has ${r.hash} (HashKV: ${table})`,
          { file: r.endpoint, location: { member: hexId(r.memberId), index: revision.toString() } },
        ),
      );
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// A backup against the live cluster (`dr audit --backup ID --endpoints ...`)

/** One member's HashKV at the backup's revision against the backup's own. */
export interface BackupMemberComparison {
  endpoint: string;
  memberId?: string;
  result: 'equal' | 'differs' | 'not-compared';
  /** the member's answer */
  hash?: number;
  compactRevision?: bigint;
  /** the backup's HashKV as that member, compacted where it is, would compute it from the same data */
  backupHash?: number;
  reason?: string;
}

export interface BackupClusterComparison {
  revision: bigint;
  /** the backup's HashKV at its revision with its own compact revision (`dr inspect db` shows the same) */
  backupHash: number;
  backupCompactRevision: bigint;
  members: BackupMemberComparison[];
}

/**
 * HashKV of the backup's data at its revision compared with every member's answer at that revision: proof that
 * the backup holds what the cluster held then. A member compacted since the backup (below its revision) is
 * compared with the backup hashed as compacted there (formats/mvcc/store.ts explains why that is exact); a
 * member compacted at or above the revision, or whose revision is below it, cannot be compared.
 *
 * `hashOfBackup(compactRevision?)` computes the backup's HashKV at the revision (the file's own compact
 * revision when absent); it is called once per distinct compact revision the members report.
 */
export async function compareBackupWithCluster(
  client: Pick<OnlineClient, 'statusAll' | 'hashKV'>,
  revision: bigint,
  hashOfBackup: (compactRevision?: bigint) => { hash: number; compactRevision: bigint },
  opts: { signal?: AbortSignal } = {},
): Promise<{ findings: Finding[]; facts: BackupClusterComparison }> {
  const own = hashOfBackup();
  const byCompact = new Map<bigint, number>([[own.compactRevision, own.hash]]);
  const backupHashAt = (c: bigint): number | string => {
    const key = c < 0n ? 0n : c;
    if (key < own.compactRevision)
      return `it reports compact revision ${c}, below the backup's own ${own.compactRevision}: the backup no longer holds the revisions in between`;
    if (!byCompact.has(key)) byCompact.set(key, hashOfBackup(key).hash);
    return byCompact.get(key)!;
  };
  const findings: Finding[] = [];
  const members: BackupMemberComparison[] = [];
  const notCompared = (m: BackupMemberComparison, reason: string): void => {
    m.result = 'not-compared';
    m.reason = reason;
    findings.push(
      finding(
        'BACKUP_CLUSTER_NOT_COMPARED',
        `${m.endpoint}: the backup's HashKV at revision ${revision} cannot be compared with this member's: ${reason}`,
        { file: m.endpoint, ...(m.memberId ? { location: { member: m.memberId } } : {}) },
      ),
    );
  };
  for (const s of await client.statusAll()) {
    opts.signal?.throwIfAborted();
    const m: BackupMemberComparison = { endpoint: s.endpoint, result: 'not-compared' };
    members.push(m);
    if (!s.status) {
      notCompared(m, `it does not answer (${s.error?.message ?? 'no answer'})`);
      continue;
    }
    m.memberId = hexId(s.status.memberId);
    if (s.status.revision < revision) {
      notCompared(
        m,
        `its current revision ${s.status.revision} is below the backup's: the cluster never reached this history (restored from an older backup, or another cluster)`,
      );
      continue;
    }
    let r: HashKVResult;
    try {
      r = await client.hashKV(s.endpoint, revision);
    } catch (err) {
      const msg = (err as Error).message;
      notCompared(
        m,
        COMPACTED_TEXT.test(msg)
          ? `the cluster has been compacted at or past revision ${revision}, so no member can hash it any more (compare a newer backup, or take one now)`
          : `HashKV failed: ${msg}`,
      );
      continue;
    }
    m.hash = r.hash;
    m.compactRevision = r.compactRevision;
    const b = backupHashAt(r.compactRevision);
    if (typeof b === 'string') {
      notCompared(m, b);
      continue;
    }
    m.backupHash = b;
    if (b === r.hash) m.result = 'equal';
    else {
      m.result = 'differs';
      findings.push(
        finding(
          'BACKUP_CLUSTER_HASH_MISMATCH',
          `${s.endpoint} (member ${m.memberId}) hashes its key space at revision ${revision} to ${r.hash} (compact revision ${r.compactRevision}); the backup's data gives ${b}: the backup does not hold what this member held at that revision`,
          { file: s.endpoint, location: { member: m.memberId, index: revision.toString() } },
        ),
      );
    }
  }
  return {
    findings,
    facts: { revision, backupHash: own.hash, backupCompactRevision: own.compactRevision, members },
  };
}
