/**
 * The API's vocabulary: the documents the HTTP routes answer with (DTOs) and what the routes need from
 * the daemon and the drill scheduler. The daemon builds these documents; the routes validate and
 * serialise them (schemas.ts). Neither side imports the other's implementation.
 */
import type { DrillRecord } from '../catalog/catalog.js';
import type { ScheduledDrill } from '../drill/scheduler.js';
import type { Manifest } from '../manifest/manifest.js';

export type JobKind = 'backup' | 'verify';
export type JobTrigger = 'schedule' | 'api' | 'catch-up' | 'periodic-verify' | 'log-gap';
export type JobState = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled';

export interface JobView {
  id: string;
  kind: JobKind;
  cluster: string;
  policy: string;
  trigger: JobTrigger;
  state: JobState;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  nextAttemptAt: string | null;
  backupId: string | null;
  error: { code: string; message: string } | null;
}

export interface PolicyState {
  name: string;
  cluster: string;
  schedule: string;
  timezone: string;
  storage: string[];
  expectedIntervalSeconds: number;
  staleAfterSeconds: number;
  lastSuccessAt: string | null;
  lastAttemptAt: string | null;
  lastAttemptResult: 'success' | 'failure' | null;
  nextRunAt: string | null;
  stale: boolean;
}

export interface ClusterState {
  name: string;
  endpoints: string[];
  policies: PolicyState[];
}

export interface BackupListing {
  id: string;
  cluster: string;
  policy: string | null;
  storage: string;
  createdAt: string;
  revision: string;
  dbSize: number;
  storedSize: number;
  verifiedAt: string | null;
  verifyOk: boolean | null;
}

/** One backup: its manifest and every storage target of this daemon that holds it. */
export interface BackupDetail {
  manifest: Manifest;
  locations: { storage: string; verifiedAt: string | null; verifyOk: boolean | null }[];
}

export interface ReadyReport {
  ready: boolean;
  config: { loaded: boolean; file: string };
  catalog: { open: boolean; error?: string };
  storage: { name: string; ok: boolean; error?: string }[];
}

/** What the routes need from the daemon (src/daemon/daemon.ts implements it). */
export interface ApiDaemon {
  ready(): Promise<ReadyReport>;
  clusters(): ClusterState[];
  backups(filter: { cluster?: string }): BackupListing[];
  backup(id: string): BackupDetail;
  trigger(cluster: string, policy?: string): { job: JobView; created: boolean };
  job(id: string): JobView | undefined;
}

/** What the drill routes need (src/drill/scheduler.ts implements it). */
export interface ApiDrills {
  scheduled(): ScheduledDrill[];
  recent(filter: { cluster?: string; policy?: string; limit?: number }): DrillRecord[];
}
