/**
 * What a member's directories look like on its host before a restore touches them: the facts the pure
 * planner decides its refusals and ownership from. Gathered by host.ts; kept apart from it so that the
 * planner reads these shapes without reaching the file system.
 */
/** What a directory looks like before the restore touches it. */
export type DirFact =
  | { path: string; state: 'missing' }
  | { path: string; state: 'not-a-directory' }
  | { path: string; state: 'empty'; mountPoint: boolean }
  | {
      path: string;
      state: 'non-empty';
      mountPoint: boolean;
      /** the first few names, for messages */
      entries: string[];
      /** only what etcd writes there (member/ in a data dir, *.wal and *.tmp in a WAL dir, lost+found) */
      looksLikeEtcd: boolean;
    };

export interface FileOwner {
  uid: number;
  gid: number;
  /** permission bits, e.g. 0o700 */
  mode: number;
}
