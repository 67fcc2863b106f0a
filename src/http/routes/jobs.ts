/** GET /api/v1/jobs/:id: a job's state (jobs live in the daemon's memory). */
import { DrError } from '../../core/errors.js';
import { errorBody, jobSchema } from '../schemas.js';
import type { HttpApp, HttpDeps } from '../deps.js';

export function jobRoutes(app: HttpApp, deps: HttpDeps): void {
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
}
