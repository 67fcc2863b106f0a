import { pino, type Logger } from 'pino';
import { LOG_REDACT_PATHS } from './redact.js';

export type { Logger };

/** JSON logs on stderr (stdout is reserved for command output). */
export function createLogger(level: string = process.env.DR_LOG_LEVEL ?? 'warn'): Logger {
  return pino(
    { level, base: { app: 'etcd-dr' }, redact: { paths: LOG_REDACT_PATHS, censor: '***' } },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
