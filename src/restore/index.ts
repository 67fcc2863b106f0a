/** The restore API the CLI (`dr restore`) and the daemon use. See README.md for the vocabulary. */
export { loadMembersFile } from '../config/load-members-file.js';
export {
  parseMembers,
  parseMembersYaml,
  membersFileSchema,
  type MembersFile,
  type TargetMember,
} from '../config/members-file.js';
export { memberId, clusterId, formatId } from './ids.js';
export {
  planRestore,
  defaultToken,
  type PlanInput,
  type RestorePlan,
  type RestoreFacts,
  type Refusal,
  type PlanStep,
} from './plan.js';
export { renderPlan } from './render-plan.js';
export { gatherFacts } from './facts.js';
export { findRestoreTool } from './tool.js';
export type { RestoreTool } from './restore-argv.js';
export {
  executeRestore,
  resumeRestore,
  type ExecuteOptions,
  type ResumeOptions,
  type RestoreResult,
  type RestoreEvent,
  type SnapshotSource,
  type RestoreFailureReport,
} from './execute.js';
export { prepareRestore, type PrepareOptions } from './prepare.js';
export { verifyRestore, type VerifyReport } from './verify.js';
export type { Prompt } from './control/types.js';
