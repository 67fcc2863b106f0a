/**
 * Gathers the facts the planner needs: the only I/O before a plan exists. Nothing here changes anything.
 */
import type { MemberHost } from './host.js';
import type { MembersFile, TargetMember } from './members-file.js';
import type { MemberFacts, RestoreFacts } from './plan.js';
import { healthProbe, type ClientTls } from './probe.js';
import { findRestoreTool } from './tool.js';
import type { MemberControl } from './control/types.js';

export interface FactDeps {
  hostFor(m: TargetMember): MemberHost;
  controlFor(m: TargetMember): MemberControl;
  tls?: ClientTls;
  signal?: AbortSignal;
  /** @default healthProbe */
  health?: (endpoint: string) => Promise<boolean>;
  /** the etcd version that wrote the backup: a restore tool of an older minor release is refused */
  backupVersion?: string;
}

export async function gatherFacts(target: MembersFile, deps: FactDeps): Promise<RestoreFacts> {
  const members: Record<string, MemberFacts> = {};
  await Promise.all(
    target.members.map(async (m) => {
      const host = deps.hostFor(m);
      const [dataDir, walDir, dataFreeBytes, walFreeBytes, control, tool] = await Promise.all([
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
      ]);
      members[m.name] = {
        dataDir,
        walDir,
        dataFreeBytes,
        walFreeBytes,
        control,
        tool: tool.tool,
        toolError: tool.error,
      };
    }),
  );
  const endpoints = target.oldCluster?.endpoints ?? [...new Set(target.members.flatMap((m) => m.clientURLs))];
  const health = deps.health ?? ((e: string) => healthProbe(e, deps.tls, deps.signal));
  const answers = await Promise.all(endpoints.map((e) => health(e).catch(() => false)));
  return { members, oldCluster: { endpoints, healthy: endpoints.filter((_, i) => answers[i]) } };
}
