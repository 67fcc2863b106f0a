/**
 * Worker thread body for `auditDbFiles`: runs the (synchronous, CPU-bound) db audit of each file off the
 * main thread, so a data dir's db and WAL audits use two cores. Opens files read-only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { auditDbFile, type DbAuditJob } from './db-audit-job.js';

const jobs = (workerData as { jobs: DbAuditJob[] }).jobs;
parentPort!.postMessage(jobs.map(auditDbFile));
