/** GET /api/v1/drills: scheduled restore drills and the recent results (empty without a drill scheduler). */
import { drillSchema, errorBody, NAME_PATTERN, scheduledDrillSchema } from '../schemas.js';
import type { HttpApp, HttpDeps } from '../deps.js';

export function drillRoutes(app: HttpApp, deps: HttpDeps): void {
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
}
