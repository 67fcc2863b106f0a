/** What the HTTP server and every route file are given. */
import type {
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/logger.js';
import type { ApiDaemon, ApiDrills } from './api-types.js';

export interface HttpDeps {
  daemon: ApiDaemon;
  /** restore drills; absent: the drill route answers an empty list */
  drills?: ApiDrills;
  registry: Registry;
  /** read on every request, so that a reload can change it; null refuses mutating routes */
  token: () => string | null;
  logger: Logger;
}

/** The app as the route files see it. */
export type HttpApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger
>;
