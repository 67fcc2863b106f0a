/**
 * Gathers the facts the planner needs: the only I/O before a plan exists. Nothing here changes anything.
 */
import type { MemberHost } from './host.js';
import type { MembersFile, TargetMember } from '../config/members-file.js';
import type { MemberFacts, RestoreFacts } from './plan.js';
import { inUseFacts } from './in-use.js';
import type { ClientTls } from './client-tls.js';
import { probeHealth, type HealthAnswer } from './probe.js';
import { checkClientTls, checkMemberTls } from './tls-check.js';
import { findRestoreTool } from './tool.js';
import type { MemberControl } from './control/types.js';

export interface FactDeps {
  hostFor(m: TargetMember): MemberHost;
  controlFor(m: TargetMember): MemberControl;
  tls?: ClientTls;
  signal?: AbortSignal;
  /** @default probeHealth */
  health?: (endpoint: string) => Promise<HealthAnswer>;
  /** the etcd version that wrote the backup: a restore tool of an older minor release is refused */
  backupVersion?: string;
}

export async function gatherFacts(target: MembersFile, deps: FactDeps): Promise<RestoreFacts> {
  const members: Record<string, MemberFacts> = {};
  await Promise.all(
    target.members.map(async (m) => {
      const host = deps.hostFor(m);
      const [dataDir, walDir, dataFreeBytes, walFreeBytes, control, tool, inUse, tlsProblems, owners] =
        await Promise.all([
          host.inspectDir(m.dataDir, 'data'),
          m.walDir ? host.inspectDir(m.walDir, 'wal') : undefined,
          host.freeBytes(m.dataDir),
          m.walDir ? host.freeBytes(m.walDir) : undefined,
          deps
            .controlFor(m)
            .check(deps.signal)
            .catch((e: Error) => ({ ok: false, detail: e.message })),
          findRestoreTool({
            host,
            etcdutl: target.binaries.etcdutl,
            etcdctl: target.binaries.etcdctl,
            signal: deps.signal,
            backupVersion: deps.backupVersion,
          }).then(
            (t) => ({ tool: t, error: undefined }),
            (e: Error) => ({ tool: null, error: e.message }),
          ),
          inUseFacts(m, host, deps.signal),
          checkMemberTls(m, host),
          Promise.all([
            host.ownerOf(m.dataDir),
            m.walDir ? host.ownerOf(m.walDir) : null,
            host.run(['id', '-u'], { signal: deps.signal }).then(
              (r) => (r.code === 0 && /^\d+$/.test(r.stdout.trim()) ? Number(r.stdout.trim()) : null),
              () => null,
            ),
          ]),
        ]);
      members[m.name] = {
        dataDir,
        walDir,
        dataFreeBytes,
        walFreeBytes,
        control,
        tool: tool.tool,
        toolError: tool.error,
        inUse,
        tlsProblems,
        dataOwner: owners[0],
        walOwner: owners[1],
        hostUid: owners[2],
      };
    }),
  );
  const endpoints = target.oldCluster?.endpoints ?? [...new Set(target.members.flatMap((m) => m.clientURLs))];
  const health = deps.health ?? ((e: string) => probeHealth(e, deps.tls, deps.signal));
  const [answers, clientTlsProblems] = await Promise.all([
    Promise.all(
      endpoints.map((e) =>
        health(e).catch((err: Error): HealthAnswer => ({ state: 'unverifiable', detail: err.message })),
      ),
    ),
    checkClientTls(target),
  ]);
  const by = (s: HealthAnswer['state']) => endpoints.filter((_, i) => answers[i]!.state === s);
  return {
    members,
    oldCluster: {
      endpoints,
      healthy: by('healthy'),
      unverifiable: endpoints
        .map((endpoint, i) => ({ endpoint, error: answers[i]!.detail, state: answers[i]!.state }))
        .filter((a) => a.state === 'unverifiable')
        .map(({ endpoint, error }) => ({ endpoint, error })),
      down: by('down'),
    },
    clientTlsProblems,
  };
}
