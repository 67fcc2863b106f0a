/**
 * `dr inspect wal DIR | db FILE | keys FILE | log`: read-only views of a member's WAL, a db / snapshot file,
 * its key-values, and the revision log, one file per subcommand. Output streams (one WAL segment in memory at a time); with
 * --json exactly one JSON document whose big array is written as it is produced. Values are never
 * printed unless --values.
 */
import type { Command } from 'commander';
import { registerInspectDb } from './db.js';
import { registerInspectKeys } from './keys.js';
import { registerInspectLog } from './log.js';
import { registerInspectWal } from './wal.js';

export function registerInspect(program: Command): void {
  const inspect = program
    .command('inspect')
    .description(
      'read-only views of a WAL, a db / snapshot file, its key-values, or the revision log (forensics)',
    );
  registerInspectWal(inspect);
  registerInspectDb(inspect);
  registerInspectKeys(inspect);
  registerInspectLog(inspect);
}
