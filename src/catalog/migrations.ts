import type Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order by PRAGMA user_version. Append; never edit a shipped step.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE backups (
     storage TEXT NOT NULL,
     id TEXT NOT NULL,
     cluster TEXT NOT NULL,
     policy TEXT,
     created_at TEXT NOT NULL,
     revision TEXT NOT NULL,
     db_size INTEGER NOT NULL,
     stored_size INTEGER NOT NULL,
     manifest TEXT NOT NULL,
     verified_at TEXT,
     verify_ok INTEGER,
     PRIMARY KEY (storage, id)
   );
   CREATE INDEX backups_by_cluster ON backups (storage, cluster, created_at);
   CREATE TABLE attempts (
     cluster TEXT NOT NULL,
     policy TEXT,
     storage TEXT NOT NULL,
     started_at TEXT NOT NULL,
     finished_at TEXT NOT NULL,
     result TEXT NOT NULL CHECK (result IN ('success', 'failure')),
     error_code TEXT,
     error_message TEXT,
     backup_id TEXT
   );
   CREATE INDEX attempts_by_policy ON attempts (cluster, policy, finished_at);`,
  // restore drills (src/drill): one row per drill, the whole result as JSON
  `CREATE TABLE drills (
     storage TEXT NOT NULL,
     backup_id TEXT NOT NULL,
     cluster TEXT NOT NULL,
     policy TEXT,
     started_at TEXT NOT NULL,
     finished_at TEXT NOT NULL,
     result TEXT NOT NULL CHECK (result IN ('success', 'failure')),
     duration_seconds REAL,
     report TEXT NOT NULL
   );
   CREATE INDEX drills_by_policy ON drills (cluster, policy, finished_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `schema version ${current} is newer than this dr understands (${MIGRATIONS.length}); upgrade dr`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
