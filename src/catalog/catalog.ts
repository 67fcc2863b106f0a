/**
 * The catalog is a local SQLite cache of the manifests in storage (fast listing, verification results,
 * attempt history for metrics). Storage stays the source of truth: sync() and rebuild() reconstruct every
 * backup row from the manifests alone, so a deleted catalog never loses a backup.
 *
 * Rows are keyed by storage location (a redacted URL), so one catalog serves several targets.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DrError, isDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Manifest } from '../manifest/manifest.js';
import { verificationRecordTime } from '../manifest/layout.js';
import type { ManifestTrust } from '../manifest/manifest-signature.js';
import { listStorage, readManifest } from '../manifest/manifest-store.js';
import { readVerificationRecord } from '../manifest/verification-record.js';
import type { Backend } from '../storage/backend.js';
import { migrate } from './migrations.js';

export interface AttemptRecord {
  cluster: string;
  policy: string | null;
  storage: string;
  startedAt: Date;
  finishedAt: Date;
  result: 'success' | 'failure';
  errorCode?: string | null;
  errorMessage?: string | null;
  backupId?: string | null;
}

/** A drill as the catalog keeps it: src/drill/drill.ts DrillResult, stored whole as JSON and read back whole. */
export interface DrillRecord {
  ok: boolean;
  backupId: string;
  cluster: string;
  policy: string | null;
  storage: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number | null;
}

export interface CatalogBackup {
  manifest: Manifest;
  verifiedAt: string | null;
  verifyOk: boolean | null;
}

export interface SyncResult {
  added: number;
  removed: number;
  /** backups whose verification state was taken from a newer record in storage */
  verificationsRead: number;
  invalid: { key: string; error: string }[];
}

export interface SyncOptions {
  cluster?: string;
  logger?: Logger;
  /** verify keys: manifests without a valid signature are refused (listed in `invalid`) */
  trust?: ManifestTrust;
}

/** Codes for which a manifest (or record) is reported as invalid and skipped, not thrown. */
const INVALID_CODES = [
  'VERIFY_FAILED',
  'STORAGE_NOT_FOUND',
  'MANIFEST_MISMATCH',
  'MANIFEST_SIGNATURE_INVALID',
] as const;

interface BackupRow {
  manifest: string;
  verified_at: string | null;
  verify_ok: number | null;
}

export class Catalog {
  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {}

  static open(file: string): Catalog {
    try {
      if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
      return new Catalog(db, file);
    } catch (err) {
      throw new DrError('CATALOG_FAILED', `catalog ${file}: ${(err as Error).message}`, {}, { cause: err });
    }
  }

  close(): void {
    this.db.close();
  }

  upsertBackup(storage: string, m: Manifest): void {
    this.db
      .prepare(
        `INSERT INTO backups (storage, id, cluster, policy, created_at, revision, db_size, stored_size, manifest)
         VALUES (@storage, @id, @cluster, @policy, @created_at, @revision, @db_size, @stored_size, @manifest)
         ON CONFLICT (storage, id) DO UPDATE SET manifest = excluded.manifest, policy = excluded.policy`,
      )
      .run({
        storage,
        id: m.id,
        cluster: m.clusterName,
        policy: m.policy,
        created_at: m.createdAt,
        revision: m.snapshot.revision,
        db_size: m.snapshot.dbSize,
        stored_size: m.stored.size,
        manifest: JSON.stringify(m),
      });
  }

  removeBackup(storage: string, id: string): void {
    this.db.prepare('DELETE FROM backups WHERE storage = ? AND id = ?').run(storage, id);
  }

  /** Newest first. */
  listBackups(storage: string, filter: { cluster?: string; policy?: string } = {}): CatalogBackup[] {
    const rows = this.db
      .prepare(
        `SELECT manifest, verified_at, verify_ok FROM backups
         WHERE storage = @storage AND (@cluster IS NULL OR cluster = @cluster) AND (@policy IS NULL OR policy = @policy)
         ORDER BY created_at DESC, id DESC`,
      )
      .all({ storage, cluster: filter.cluster ?? null, policy: filter.policy ?? null }) as BackupRow[];
    return rows.map(toBackup);
  }

  /**
   * The newest good backup (newest first, the first whose latest verification did not fail): what
   * `latest`, drills, metrics and the daemon's verification mean by "the newest backup".
   */
  newestGood(storage: string, filter: { cluster?: string; policy?: string } = {}): CatalogBackup | undefined {
    return this.listBackups(storage, filter).find(isGoodBackup);
  }

  getBackup(storage: string, id: string): CatalogBackup | undefined {
    const row = this.db
      .prepare('SELECT manifest, verified_at, verify_ok FROM backups WHERE storage = ? AND id = ?')
      .get(storage, id) as BackupRow | undefined;
    return row ? toBackup(row) : undefined;
  }

  markVerified(storage: string, id: string, at: Date, ok: boolean): void {
    this.db
      .prepare('UPDATE backups SET verified_at = ?, verify_ok = ? WHERE storage = ? AND id = ?')
      .run(at.toISOString(), ok ? 1 : 0, storage, id);
  }

  recordAttempt(a: AttemptRecord): void {
    this.db
      .prepare(
        `INSERT INTO attempts (cluster, policy, storage, started_at, finished_at, result, error_code, error_message, backup_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        a.cluster,
        a.policy,
        a.storage,
        a.startedAt.toISOString(),
        a.finishedAt.toISOString(),
        a.result,
        a.errorCode ?? null,
        a.errorMessage ?? null,
        a.backupId ?? null,
      );
  }

  /** Newest first. */
  recentAttempts(filter: { cluster?: string; policy?: string; limit?: number } = {}): AttemptRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM attempts WHERE (@cluster IS NULL OR cluster = @cluster) AND (@policy IS NULL OR policy = @policy)
         ORDER BY finished_at DESC, rowid DESC LIMIT @limit`,
      )
      .all({
        cluster: filter.cluster ?? null,
        policy: filter.policy ?? null,
        limit: filter.limit ?? 50,
      }) as Record<string, string | null>[];
    return rows.map((r) => ({
      cluster: r.cluster!,
      policy: r.policy ?? null,
      storage: r.storage!,
      startedAt: new Date(r.started_at!),
      finishedAt: new Date(r.finished_at!),
      result: r.result as 'success' | 'failure',
      errorCode: r.error_code,
      errorMessage: r.error_message,
      backupId: r.backup_id,
    }));
  }

  /** Records a restore drill (src/drill); `report` is the whole DrillResult. */
  recordDrill(d: DrillRecord): void {
    this.db
      .prepare(
        `INSERT INTO drills (storage, backup_id, cluster, policy, started_at, finished_at, result, duration_seconds, report)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        d.storage,
        d.backupId,
        d.cluster,
        d.policy,
        d.startedAt,
        d.finishedAt,
        d.ok ? 'success' : 'failure',
        d.durationSeconds,
        JSON.stringify(d),
      );
  }

  /** Drills, newest first (`ok` true: only successful ones). */
  recentDrills(
    filter: { cluster?: string; policy?: string; ok?: boolean; limit?: number } = {},
  ): DrillRecord[] {
    const rows = this.db
      .prepare(
        `SELECT report FROM drills WHERE (@cluster IS NULL OR cluster = @cluster) AND (@policy IS NULL OR policy = @policy)
           AND (@result IS NULL OR result = @result)
         ORDER BY finished_at DESC, rowid DESC LIMIT @limit`,
      )
      .all({
        cluster: filter.cluster ?? null,
        policy: filter.policy ?? null,
        result: filter.ok === undefined ? null : filter.ok ? 'success' : 'failure',
        limit: filter.limit ?? 50,
      }) as { report: string }[];
    return rows.map((r) => JSON.parse(r.report) as DrillRecord);
  }

  /**
   * Brings the rows of one storage in line with its manifests: one LIST, then a GET only for manifests the
   * catalog does not have yet, and for verification records newer than the verification the catalog
   * knows. Rows whose manifest is gone are dropped. Invalid manifests (unreadable, not matching their
   * key, unsigned or mis-signed under a verify key) are reported and left out.
   */
  async sync(backend: Backend, opts: SyncOptions = {}): Promise<SyncResult> {
    const storage = backend.location;
    const { manifests, verifications } = await listStorage(backend, opts.cluster);
    const known = new Map(
      (
        this.db
          .prepare(
            'SELECT id, verified_at FROM backups WHERE storage = @storage AND (@cluster IS NULL OR cluster = @cluster)',
          )
          .all({ storage, cluster: opts.cluster ?? null }) as { id: string; verified_at: string | null }[]
      ).map((r) => [r.id, r.verified_at]),
    );
    const result: SyncResult = { added: 0, removed: 0, verificationsRead: 0, invalid: [] };
    const invalid = (key: string, err: unknown): void => {
      if (!INVALID_CODES.some((c) => isDrError(err, c))) throw err;
      const message = (err as Error).message;
      result.invalid.push({ key, error: message });
      opts.logger?.warn({ key, err: message }, 'skipping unreadable manifest');
    };
    const present = new Set<string>();
    const seen = new Set<string>();
    // an id listed in two folders is a copied manifest: read every one, so the copy is named
    const twice = new Set<string>();
    for (const { id } of manifests.values()) (seen.has(id) ? twice : seen).add(id);
    for (const { id, key, cluster } of manifests.values()) {
      present.add(id);
      if (!known.has(id) || twice.has(id)) {
        try {
          this.upsertBackup(storage, await readManifest(backend, key, opts.trust));
          if (!known.has(id)) {
            result.added++;
            known.set(id, null);
          }
        } catch (err) {
          invalid(key, err);
          continue;
        }
      }
      const latest = verifications.get(`${cluster}/${id}`)?.at(-1);
      const at = latest ? verificationRecordTime(latest) : null;
      const verifiedAt = known.get(id);
      if (!latest || !at || (verifiedAt && Date.parse(verifiedAt) >= at.getTime())) continue;
      try {
        const rec = await readVerificationRecord(backend, latest);
        this.markVerified(storage, id, new Date(rec.verifiedAt), rec.ok);
        result.verificationsRead++;
      } catch (err) {
        invalid(latest, err);
      }
    }
    const del = this.db.prepare('DELETE FROM backups WHERE storage = ? AND id = ?');
    for (const id of known.keys()) {
      if (!present.has(id)) {
        del.run(storage, id);
        result.removed++;
      }
    }
    return result;
  }

  /** Forgets everything about one storage and reads it back from its manifests. */
  async rebuild(backend: Backend, opts: Omit<SyncOptions, 'cluster'> = {}): Promise<SyncResult> {
    this.db.prepare('DELETE FROM backups WHERE storage = ?').run(backend.location);
    return this.sync(backend, opts);
  }
}

/**
 * The one definition of a good backup: committed (it has a manifest) and its latest verification, if
 * any, did not fail. A backup never verified counts as good; one whose newest record failed never does.
 */
export function isGoodBackup(b: { verifyOk: boolean | null }): boolean {
  return b.verifyOk !== false;
}

function toBackup(row: BackupRow): CatalogBackup {
  return {
    manifest: JSON.parse(row.manifest) as Manifest,
    verifiedAt: row.verified_at,
    verifyOk: row.verify_ok === null ? null : row.verify_ok === 1,
  };
}
