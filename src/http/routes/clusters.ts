/** GET /api/v1/clusters (policies with last success and next run); POST /api/v1/clusters/:name/backups (backup now). */
import { requireToken } from '../auth.js';
import { errorBody, jobSchema, NAME_PATTERN, policyStateSchema } from '../schemas.js';
import type { HttpApp, HttpDeps } from '../deps.js';

export function clusterRoutes(app: HttpApp, deps: HttpDeps): void {
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

  app.post<{ Params: { name: string }; Body: { policy?: string } | undefined }>(
    '/api/v1/clusters/:name/backups',
    {
      preHandler: requireToken(deps.token),
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
}
