/**
 * The daemon's HTTP API (fastify). Every route declares JSON schemas for its input (validated) and its
 * output (serialised); the TypeScript types of the handlers are written next to them.
 *
 *   GET  /healthz                       the process answers
 *   GET  /readyz                        config loaded, catalog open, every storage target reachable
 *   GET  /metrics                       Prometheus text format (src/metrics)
 *   GET  /api/v1/clusters               clusters and their policies with last success / next run
 *   GET  /api/v1/backups?cluster=       backups in the catalog, newest first
 *   GET  /api/v1/backups/:id            one backup's manifest and where it is stored ("latest": the newest, ?cluster=)
 *   POST /api/v1/clusters/:name/backups backup now (body {"policy"?}) -> 202 and the job
 *   GET  /api/v1/jobs/:id               a job's state
 *
 * Errors answer {"error": {"code", "message"}} with the status of the DrError catalogue. Mutating
 * routes need `Authorization: Bearer <token>`; without a configured token they are refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { DrError, isDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { BackupListing, ClusterState, ReadyReport } from '../daemon/daemon.js';
import type { JobView } from '../daemon/job.js';
import type { Manifest } from '../manifest/manifest.js';
import type { DrillRecord } from '../catalog/catalog.js';
import type { ScheduledDrill } from '../drill/scheduler.js';

/** What the routes need from the daemon (src/daemon/daemon.ts implements it). */
export interface ApiDaemon {
  ready(): Promise<ReadyReport>;
  clusters(): ClusterState[];
  backups(filter: { cluster?: string }): BackupListing[];
  backup(id: string): {
    manifest: Manifest;
    locations: { storage: string; verifiedAt: string | null; verifyOk: boolean | null }[];
  };
  trigger(cluster: string, policy?: string): { job: JobView; created: boolean };
  job(id: string): JobView | undefined;
}

/** What the drill routes need (src/drill/scheduler.ts implements it). */
export interface ApiDrills {
  scheduled(): ScheduledDrill[];
  recent(filter: { cluster?: string; policy?: string; limit?: number }): DrillRecord[];
}

export interface HttpDeps {
  daemon: ApiDaemon;
  /** restore drills; absent: the drill route answers an empty list */
  drills?: ApiDrills;
  registry: Registry;
  /** read on every request, so that a reload can change it; null refuses mutating routes */
  token: () => string | null;
  logger: Logger;
}

const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
} as const;

const nullableString = { type: ['string', 'null'] } as const;

const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['backup', 'verify'] },
    cluster: { type: 'string' },
    policy: { type: 'string' },
    trigger: { type: 'string' },
    state: { type: 'string', enum: ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'] },
    attempts: { type: 'integer' },
    createdAt: { type: 'string' },
    startedAt: nullableString,
    finishedAt: nullableString,
    nextAttemptAt: nullableString,
    backupId: nullableString,
    error: {
      anyOf: [
        { type: 'null' },
        { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
      ],
    },
  },
  required: ['id', 'kind', 'cluster', 'policy', 'state', 'attempts', 'createdAt'],
} as const;

const backupListingSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    cluster: { type: 'string' },
    policy: nullableString,
    storage: { type: 'string' },
    createdAt: { type: 'string' },
    revision: { type: 'string' },
    dbSize: { type: 'integer' },
    storedSize: { type: 'integer' },
    verifiedAt: nullableString,
    verifyOk: { type: ['boolean', 'null'] },
  },
} as const;

const policyStateSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    cluster: { type: 'string' },
    schedule: { type: 'string' },
    timezone: { type: 'string' },
    storage: { type: 'array', items: { type: 'string' } },
    expectedIntervalSeconds: { type: 'number' },
    staleAfterSeconds: { type: 'number' },
    lastSuccessAt: nullableString,
    lastAttemptAt: nullableString,
    lastAttemptResult: nullableString,
    nextRunAt: nullableString,
    stale: { type: 'boolean' },
  },
} as const;

const drillSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ok: { type: 'boolean' },
    backupId: { type: 'string' },
    cluster: { type: 'string' },
    policy: nullableString,
    storage: { type: 'string' },
    members: { type: 'integer' },
    etcdVersion: nullableString,
    startedAt: { type: 'string' },
    finishedAt: { type: 'string' },
    durationSeconds: { type: ['number', 'null'] },
    cleanedUp: { type: 'boolean' },
  },
} as const;

const scheduledDrillSchema = {
  type: 'object',
  properties: {
    cluster: { type: 'string' },
    policy: { type: 'string' },
    schedule: { type: 'string' },
    timezone: { type: 'string' },
    members: { type: 'integer' },
    storage: { type: 'string' },
    staleAfterSeconds: { type: 'number' },
    nextRunAt: nullableString,
    lastDrill: { anyOf: [{ type: 'null' }, drillSchema] },
  },
} as const;

const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

export type HttpServer = ReturnType<typeof buildHttpServer>;

export function buildHttpServer(deps: HttpDeps) {
  // Request logs are info-level; the child at warn keeps scrapes out of the daemon's log.
  // removeAdditional off: an unknown field is an error the caller should see, not something dropped.
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }),
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false } },
  });

  app.setErrorHandler(
    (err: Error & { statusCode?: number; validation?: unknown; code?: string }, _req, reply) => {
      if (isDrError(err))
        return reply.code(err.httpStatus).send({ error: { code: err.code, message: err.message } });
      if (err.validation || (err.statusCode && err.statusCode < 500)) {
        return reply.code(err.statusCode ?? 400).send({ error: { code: 'USAGE', message: err.message } });
      }
      deps.logger.error({ err: err.message }, 'http: internal error');
      return reply.code(500).send({ error: { code: 'INTERNAL', message: err.message } });
    },
  );
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  const requireToken = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const expected = deps.token();
    if (expected === null) {
      return void reply.code(401).send({
        error: {
          code: 'UNAUTHORIZED',
          message: 'mutating endpoints are disabled: no server.tokenFile or server.tokenEnv in the config',
        },
      });
    }
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !sameSecret(m[1]!.trim(), expected)) {
      return void reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: {
            code: 'UNAUTHORIZED',
            message: 'a valid "Authorization: Bearer <token>" header is required',
          },
        });
    }
  };

  app.get(
    '/healthz',
    { schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        response: {
          '2xx': { type: 'object', additionalProperties: true },
          503: { type: 'object', additionalProperties: true },
        },
      },
    },
    async (_req, reply) => {
      const r = await deps.daemon.ready();
      return reply.code(r.ready ? 200 : 503).send(r);
    },
  );

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.registry.metrics();
    return reply.header('content-type', deps.registry.contentType).send(text);
  });

  app.get(
    '/api/v1/clusters',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              clusters: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    name: { type: 'string' },
                    endpoints: { type: 'array', items: { type: 'string' } },
                    policies: { type: 'array', items: policyStateSchema },
                  },
                },
              },
            },
          },
        },
      },
    },
    async () => ({ clusters: deps.daemon.clusters() }),
  );

  app.get<{ Querystring: { cluster?: string } }>(
    '/api/v1/backups',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { cluster: { type: 'string', pattern: NAME_PATTERN } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { backups: { type: 'array', items: backupListingSchema } } },
          '4xx': errorBody,
        },
      },
    },
    async (req) => ({
      backups: deps.daemon.backups(req.query.cluster ? { cluster: req.query.cluster } : {}),
    }),
  );

  app.get<{ Querystring: { cluster?: string; policy?: string; limit?: number } }>(
    '/api/v1/drills',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            cluster: { type: 'string', pattern: NAME_PATTERN },
            policy: { type: 'string', pattern: NAME_PATTERN },
            limit: { type: 'integer', minimum: 1, maximum: 1000 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              scheduled: { type: 'array', items: scheduledDrillSchema },
              drills: { type: 'array', items: drillSchema },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      const { cluster, policy, limit } = req.query;
      const scheduled = (deps.drills?.scheduled() ?? []).filter(
        (d) => (!cluster || d.cluster === cluster) && (!policy || d.policy === policy),
      );
      return { scheduled, drills: deps.drills?.recent({ cluster, policy, limit: limit ?? 50 }) ?? [] };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { cluster?: string } }>(
    '/api/v1/backups/:id',
    {
      schema: {
        params: {
          type: 'object',
          // "latest" as on the command line: the newest backup (of ?cluster= when given)
          properties: { id: { type: 'string', pattern: '^(latest|\\d{8}T\\d{6}Z-[0-9a-f]{8})$' } },
          required: ['id'],
        },
        querystring: {
          type: 'object',
          properties: { cluster: { type: 'string', pattern: NAME_PATTERN } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              manifest: { type: 'object', additionalProperties: true },
              locations: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    storage: { type: 'string' },
                    verifiedAt: nullableString,
                    verifyOk: { type: ['boolean', 'null'] },
                  },
                },
              },
            },
          },
          '4xx': errorBody,
        },
      },
    },
    async (req) => {
      if (req.params.id !== 'latest') return deps.daemon.backup(req.params.id);
      const cluster = req.query.cluster;
      const newest = deps.daemon.backups(cluster ? { cluster } : {})[0];
      if (!newest)
        throw new DrError(
          'BACKUP_NOT_FOUND',
          `no backup in the catalog of this daemon${cluster ? ` for cluster ${cluster}` : ''}`,
          cluster ? { cluster } : {},
        );
      return deps.daemon.backup(newest.id);
    },
  );

  app.post<{ Params: { name: string }; Body: { policy?: string } | undefined }>(
    '/api/v1/clusters/:name/backups',
    {
      preHandler: requireToken,
      schema: {
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: NAME_PATTERN } },
          required: ['name'],
        },
        body: {
          type: ['object', 'null'],
          properties: { policy: { type: 'string', pattern: NAME_PATTERN } },
          additionalProperties: false,
        },
        response: {
          202: {
            type: 'object',
            properties: { job: jobSchema, created: { type: 'boolean' }, href: { type: 'string' } },
          },
          '4xx': errorBody,
          '5xx': errorBody,
        },
      },
    },
    async (req, reply) => {
      const { job, created } = deps.daemon.trigger(req.params.name, req.body?.policy ?? undefined);
      const href = `/api/v1/jobs/${job.id}`;
      return reply.code(202).header('location', href).send({ job, created, href });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/jobs/:id',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        response: { 200: { type: 'object', properties: { job: jobSchema } }, '4xx': errorBody },
      },
    },
    async (req) => {
      const job = deps.daemon.job(req.params.id);
      if (!job)
        throw new DrError(
          'JOB_NOT_FOUND',
          `no job ${req.params.id} (jobs are kept in memory until the daemon restarts)`,
          { id: req.params.id },
        );
      return { job };
    },
  );

  return app;
}

/** Constant-time comparison: both sides are hashed first so that their lengths do not leak either. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export async function listen(app: HttpServer, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (err) {
    throw new DrError(
      'CONFIG_INVALID',
      `http: cannot listen on ${host}:${port}: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}
