/**
 * The reviewed plan as a file: `dr restore --dry-run --out plan.json` writes it, `dr restore --plan
 * plan.json --yes` runs exactly it. The file holds the whole plan (token, cluster and member IDs, every
 * command as it will run, the private scratch path) and the fingerprints of what it was made from: dr's
 * version, the backup's id and sha256, the members file. Running it refuses when any of those changed;
 * the executor then re-gathers the facts and refuses when the plan they give differs in any command
 * (see planDrift in execute.ts).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DrError } from '../core/errors.js';
import { TOOL_VERSION } from '../core/version.js';
import type { Manifest } from '../manifest/manifest.js';
import { writeAtomic } from './journal.js';
import type { MembersFile } from '../config/members-file.js';
import type { RestorePlan } from './plan-types.js';

export const PLAN_FILE_KIND = 'dr-restore-plan';
export const PLAN_FILE_VERSION = 1;

export interface PlanFile {
  kind: typeof PLAN_FILE_KIND;
  formatVersion: number;
  /** dr's version that made the plan */
  drVersion: string;
  backup: { id: string; sha256: string };
  /** sha256 of the members file's parsed content (canonical JSON) */
  membersSha256: string;
  plan: RestorePlan;
}

/** Key-sorted JSON: the same members file gives the same text, whatever its YAML layout. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export function membersSha256(target: MembersFile): string {
  return createHash('sha256').update(canonical(target)).digest('hex');
}

/** The plan's private scratch path for the fetched backup: `<workDir>/.dr-restore-<id>-<8 hex>/<id>.db`. */
export function scratchSnapshotPath(workDir: string, backupId: string, token: string): string {
  const tag = createHash('sha256').update(token).digest('hex').slice(0, 8);
  return path.join(path.resolve(workDir), `.dr-restore-${backupId}-${tag}`, `${backupId}.db`);
}

export function isPlannedScratch(file: string, backupId: string): boolean {
  return (
    path.isAbsolute(file) &&
    path.basename(file) === `${backupId}.db` &&
    /^\.dr-restore-.+-[0-9a-f]{8}$/.test(path.basename(path.dirname(file)))
  );
}

export async function writePlanFile(file: string, plan: RestorePlan): Promise<void> {
  const doc: PlanFile = {
    kind: PLAN_FILE_KIND,
    formatVersion: PLAN_FILE_VERSION,
    drVersion: TOOL_VERSION,
    backup: { id: plan.backup.id, sha256: plan.backup.sha256 },
    membersSha256: membersSha256(plan.target),
    plan,
  };
  // 0600: the plan names every path and host of the cluster
  await writeAtomic(file, JSON.stringify(doc, null, 2) + '\n');
}

export async function readPlanFile(file: string): Promise<PlanFile> {
  let doc: PlanFile;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as PlanFile;
  } catch (err) {
    throw new DrError('CONFIG_INVALID', `restore plan ${file}: cannot be read: ${(err as Error).message}`);
  }
  if (doc?.kind !== PLAN_FILE_KIND || doc.formatVersion !== PLAN_FILE_VERSION || !doc.plan?.steps)
    throw new DrError(
      'CONFIG_INVALID',
      `restore plan ${file}: not a dr restore plan (format ${String(doc?.formatVersion)})`,
    );
  return doc;
}

/**
 * The plan in the file, if it may still run: made by this dr, for this backup (same sha256), from this
 * members file. Anything else is RESTORE_REFUSED naming what changed: nothing has been touched.
 */
export function checkPlanFile(
  doc: PlanFile,
  file: string,
  now: { manifest: Manifest; target: MembersFile },
): RestorePlan {
  const changed: string[] = [];
  if (doc.drVersion !== TOOL_VERSION)
    changed.push(`dr version ${doc.drVersion} made it, this is ${TOOL_VERSION}`);
  if (doc.backup.id !== now.manifest.id || doc.backup.sha256 !== now.manifest.snapshot.sha256)
    changed.push(
      `it is for backup ${doc.backup.id} (sha256 ${doc.backup.sha256}), the backup now is ${now.manifest.id} (sha256 ${now.manifest.snapshot.sha256})`,
    );
  if (doc.plan.backup.sha256 !== doc.backup.sha256 || membersSha256(doc.plan.target) !== doc.membersSha256)
    changed.push('the plan in the file was edited after it was written');
  if (membersSha256(now.target) !== doc.membersSha256) changed.push('the members file changed since');
  if (changed.length > 0)
    throw new DrError(
      'RESTORE_REFUSED',
      `restore: plan ${file} cannot run: ${changed.join('; ')}; plan again`,
      {
        changed,
      },
    );
  return doc.plan;
}
