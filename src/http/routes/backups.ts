/** GET /api/v1/backups (newest first, ?cluster=) and /api/v1/backups/:id ("latest": the newest). */
import { isGoodBackup } from '../../catalog/catalog.js';
import { DrError } from '../../core/errors.js';
import { backupListingSchema, errorBody, NAME_PATTERN, nullableString } from '../schemas.js';
import type { HttpApp, HttpDeps } from '../deps.js';

export function backupRoutes(app: HttpApp, deps: HttpDeps): void {
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

  app.get<{ Params: { id: string }; Querystring: { cluster?: string } }>(
    '/api/v1/backups/:id',
    {
      schema: {
        params: {
          type: 'object',
          // "latest" as on the command line: the newest good backup (of ?cluster= when given)
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
      const newest = deps.daemon.backups(cluster ? { cluster } : {}).find(isGoodBackup);
      if (!newest)
        throw new DrError(
          'BACKUP_NOT_FOUND',
          `no backup in the catalog of this daemon${cluster ? ` for cluster ${cluster}` : ''}`,
          cluster ? { cluster } : {},
        );
      return deps.daemon.backup(newest.id);
    },
  );
}
