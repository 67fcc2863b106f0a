import { pino, stdSerializers, type Logger } from 'pino';
import { LOG_REDACT_PATHS, redactText } from './redact.js';

export type { Logger };

/**
 * JSON logs on stderr (stdout is reserved for command output). Secrets stay out: known secret fields are
 * censored, and credentials in URLs are hidden in the message and in a logged error's message and stack
 * (a library's error may quote a URL with user:password@).
 */
export function createLogger(level = 'warn'): Logger {
  return pino(
    {
      level,
      base: { app: 'etcd-dr' },
      redact: { paths: LOG_REDACT_PATHS, censor: '***' },
      serializers: {
        err: (e: unknown) => {
          // callers log { err } with whatever they caught: an Error, a string, anything
          if (!(e instanceof Error)) return typeof e === 'string' ? redactText(e) : e;
          const out = stdSerializers.err(e);
          out.message = redactText(out.message);
          if (out.stack) out.stack = redactText(out.stack);
          return out;
        },
      },
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((a: unknown) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<
              typeof method
            >,
          );
        },
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
