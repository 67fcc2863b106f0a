/**
 * `dr inspect wal DIR | db FILE | keys FILE`: read-only views of a member's WAL, a db / snapshot file and
 * its key-values, one file per subcommand. Output streams (one WAL segment in memory at a time); with
 * --json exactly one JSON document whose big array is written as it is produced. Values are never
 * printed unless --values.
 */
import type { Command } from 'commander';
import { registerInspectDb } from './db.js';
import { registerInspectKeys } from './keys.js';
import { registerInspectWal } from './wal.js';

export function registerInspect(program: Command): void {
  const inspect = program
    .command('inspect')
    .description('read-only views of a WAL, a db / snapshot file, or its key-values (forensics)');
  registerInspectWal(inspect);
  registerInspectDb(inspect);
  registerInspectKeys(inspect);
}
