/** What every step of a restore run shares: the plan, the deps, how each member is reached. */
import type { AgeIdentities } from '../crypto/age-keys.js';
import type { Clock } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Manifest } from '../manifest/manifest.js';
import type { Backend } from '../storage/backend.js';
import { memberAccess } from './access.js';
import type { MemberControl, Prompt } from './control/types.js';
import type { MemberHost } from './host.js';
import type { TargetMember } from '../config/members-file.js';
import type { RestorePlan } from './plan.js';
import { clientTlsFor, type ClientTls } from './client-tls.js';
import type { ClusterProbe } from './probe.js';
import type { RestoreTool } from './restore-argv.js';

/** Where the backup comes from: a stored backup (fetched and verified once) or a plain snapshot file. */
/** a backend source of an encrypted backup carries the age identities that open it */
export type SnapshotSource = { backend: Backend; identities?: AgeIdentities | null } | { file: string };

export interface RestoreEvent {
  step: string;
  state: 'running' | 'done' | 'failed' | 'skipped';
  message: string;
}

export interface ExecuteDeps {
  /** asked by `manual` members; the CLI reads a line from stdin */
  prompt?: Prompt;
  logger?: Logger;
  clock?: Clock;
  signal?: AbortSignal;
  onEvent?: (e: RestoreEvent) => void;
  /**
   * writersMs: how long a restore step waits for a process still running on its staging dir (a killed
   * run's restore tool). @default { quorumMs: 120000, allMs: 300000, writersMs: 300000 }
   */
  timeouts?: { quorumMs?: number; allMs?: number; writersMs?: number };
  /**
   * etcd credentials for the restored cluster's waits and verification, when the backup has etcd auth
   * enabled (the restored members keep the backup's users): never written to the journal or the plan
   */
  auth?: { user: string; password: string };
  /** overrides for tests */
  probeFactory?: (endpoints: string[], tls: ClientTls | undefined) => ClusterProbe;
  hostFor?: (m: TargetMember) => MemberHost;
  /** called after a step is journaled done; a throw here behaves like dr dying at that point */
  afterStep?: (stepId: string) => void | Promise<void>;
}

export interface Ctx {
  plan: RestorePlan;
  manifest: Manifest;
  log: Logger;
  deps: ExecuteDeps;
  tls: ClientTls | undefined;
  hostFor(m: TargetMember): MemberHost;
  controlFor(m: TargetMember): MemberControl;
  member(name: string): TargetMember;
  tools: Map<MemberHost, Promise<RestoreTool>>;
  /**
   * The snapshot file was checked against the manifest by this process (the fetch step ran in this run,
   * not in an earlier one before a crash that may have lost unsynced pages of the scratch copy).
   */
  snapshotChecked: boolean;
}

export function context(plan: RestorePlan, opts: ExecuteDeps & { manifest: Manifest }): Ctx {
  const target = plan.target;
  const access = memberAccess(target, {
    token: plan.newCluster.token,
    initialCluster: plan.newCluster.initialCluster,
    prompt: opts.prompt,
    hostFor: opts.hostFor,
  });
  return {
    plan,
    manifest: opts.manifest,
    log: (opts.logger ?? silentLogger).child({ component: 'restore' }),
    deps: opts,
    tls: clientTlsFor(target),
    ...access,
    member: (name) => target.members.find((m) => m.name === name)!,
    tools: new Map(),
    snapshotChecked: false,
  };
}
