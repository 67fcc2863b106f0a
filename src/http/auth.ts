/**
 * The bearer token of mutating routes: read from the config on every request (a reload may change it),
 * compared in constant time; without a configured token the routes are refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export function requireToken(token: () => string | null) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const expected = token();
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
}

/** Constant-time comparison: both sides are hashed first so that their lengths do not leak either. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
