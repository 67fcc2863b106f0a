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
 * One file per group of routes in routes/; their documents are typed in api-types.ts and described
 * by the JSON schemas in schemas.ts. Errors answer {"error": {"code", "message"}} with the status of
 * the DrError catalogue. Mutating
 * routes need `Authorization: Bearer <token>`; without a configured token they are refused.
 */
import Fastify from 'fastify';
import { DrError, isDrError } from '../core/errors.js';
import type { HttpDeps } from './deps.js';
import { backupRoutes } from './routes/backups.js';
import { clusterRoutes } from './routes/clusters.js';
import { drillRoutes } from './routes/drills.js';
import { jobRoutes } from './routes/jobs.js';
import { probeRoutes } from './routes/probes.js';

export type { ApiDaemon, ApiDrills } from './api-types.js';
export { sameSecret } from './auth.js';
export type { HttpDeps } from './deps.js';

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

  for (const routes of [probeRoutes, clusterRoutes, backupRoutes, drillRoutes, jobRoutes]) routes(app, deps);

  return app;
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
