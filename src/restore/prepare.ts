/**
 * The I/O half of planning, for the CLI: look at every member (facts), then call the pure planner.
 * `dr restore --dry-run` is prepareRestore + renderPlan.
 */
import { randomBytes } from 'node:crypto';
import type { Manifest } from '../manifest/manifest.js';
import { memberAccess } from './access.js';
import type { Prompt } from './control/types.js';
import { gatherFacts } from './facts.js';
import type { MemberHost } from './host.js';
import type { MembersFile, TargetMember } from '../config/members-file.js';
import { defaultToken, planRestore, type RestorePlan } from './plan.js';
import { scratchSnapshotPath } from './plan-file.js';
import { clientTlsFor } from './client-tls.js';

export interface PrepareOptions {
  manifest: Manifest;
  target: MembersFile;
  now: Date;
  /** @default target.initialClusterToken, else dr-<backup id>-<6 random hex> */
  token?: string;
  force?: boolean;
  /** `--bump-revision N --mark-compacted` (plan-bump.ts) */
  bumpRevision?: number;
  /** where the executor will put the fetched snapshot (shown in the plan's commands) */
  snapshotFile?: string;
  /**
   * The dir where the executor makes its private scratch dir for the fetched backup: the plan then names
   * the real path (scratchSnapshotPath), which is what runs. Ignored when snapshotFile is given.
   */
  scratchDir?: string;
  prompt?: Prompt;
  signal?: AbortSignal;
  hostFor?: (m: TargetMember) => MemberHost;
}

export async function prepareRestore(o: PrepareOptions): Promise<RestorePlan> {
  const token = o.token ?? o.target.initialClusterToken ?? defaultToken(o.manifest.id, randomBytes(3));
  const initialCluster = o.target.members.flatMap((m) => m.peerURLs.map((u) => `${m.name}=${u}`)).join(',');
  const access = memberAccess(o.target, { token, initialCluster, prompt: o.prompt, hostFor: o.hostFor });
  const facts = await gatherFacts(o.target, {
    ...access,
    tls: clientTlsFor(o.target),
    signal: o.signal,
    backupVersion: o.manifest.source.etcdVersion,
  });
  return planRestore({
    backup: o.manifest,
    target: o.target,
    token,
    now: o.now,
    facts,
    force: o.force,
    snapshotFile:
      o.snapshotFile ?? (o.scratchDir ? scratchSnapshotPath(o.scratchDir, o.manifest.id, token) : undefined),
    bumpRevision: o.bumpRevision,
  });
}
