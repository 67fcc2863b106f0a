/** GET /healthz (the process answers), /readyz (config, catalog, every storage target), /metrics. */
import type { HttpApp, HttpDeps } from '../deps.js';

export function probeRoutes(app: HttpApp, deps: HttpDeps): void {
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
}
