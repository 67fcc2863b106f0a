/**
 * The one place a Backend is built from a --storage URL and its wrappers are stacked (restic's
 * open/create): backend, then logging (one line per attempt), then retry (outermost, so each
 * attempt is logged). Callers never compose wrappers themselves, and backends never retry or log
 * on their own account.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local/local-backend.js';
import { withLogging } from './logging.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { S3BackendOptions } from './s3/s3-backend.js';
import { parseStorageUrl, type StorageUrl } from './url.js';

/** How the daemon and the drill scheduler open a storage URL (tests pass their own). */
export type OpenBackend = (url: string, opts: { logger: Logger }) => Promise<Backend>;

export interface OpenBackendOptions {
  /** Storage operations are logged at debug, retries at warn. @default silentLogger */
  logger?: Logger;
  /** Retry policy for transient errors; false turns retries off. @default {} (RetryOptions defaults) */
  retry?: Omit<RetryOptions, 'logger'> | false;
  /** @default systemClock */
  clock?: Clock;
  /**
   * Cancels every operation of the backend, requests in flight included (a command's SIGTERM); each
   * call's own signal is combined with it.
   */
  signal?: AbortSignal;
  /**
   * azblob only: the environment the Azure credential chain reads (AZURE_STORAGE_CONNECTION_STRING,
   * AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN); the CLI and the daemon pass process.env.
   * @default {} (only DefaultAzureCredential, which reads the process environment itself)
   */
  env?: NodeJS.ProcessEnv;
  /** s3 only: replaces the AWS default credential chain (embedding, tests). */
  credentials?: S3BackendOptions['credentials'];
}

type Factory<U extends StorageUrl> = (url: U, opts: OpenBackendOptions) => Backend | Promise<Backend>;

/** One entry per scheme; a new backend adds its folder, its URL form in url.ts, and a line here. */
const FACTORIES: { [S in StorageUrl['scheme']]: Factory<Extract<StorageUrl, { scheme: S }>> } = {
  file: (url, opts) => new LocalBackend(url.dir, { clock: opts.clock ?? systemClock }),
  // The AWS SDK is loaded only when an s3:// URL is used: it costs memory and start-up time
  // (docs/benchmarks.md).
  s3: async (url, opts) =>
    new (await import('./s3/s3-backend.js')).S3Backend(url, {
      clock: opts.clock ?? systemClock,
      logger: opts.logger ?? silentLogger,
      ...(opts.credentials !== undefined ? { credentials: opts.credentials } : {}),
    }),
  // The Azure SDK likewise only for azblob:// URLs (and @azure/identity only when no storage key,
  // connection string or SAS token is set).
  azblob: async (url, opts) =>
    (await import('./azure/azure-backend.js')).openAzureBackend(url, {
      clock: opts.clock ?? systemClock,
      logger: opts.logger ?? silentLogger,
      env: opts.env ?? {},
    }),
};

/**
 * Parses the URL (throws STORAGE_URL_INVALID) and returns the wrapped backend. It does not touch the
 * storage: call check() when the command needs to know the target is usable before starting work.
 */
export async function openBackend(url: string, opts: OpenBackendOptions = {}): Promise<Backend> {
  return composeBackend(parseStorageUrl(url), opts);
}

export async function composeBackend(url: StorageUrl, opts: OpenBackendOptions = {}): Promise<Backend> {
  const logger = opts.logger ?? silentLogger;
  const factory = FACTORIES[url.scheme] as Factory<StorageUrl>;
  const logged = withLogging(await factory(url, opts), logger);
  // Without retries the wrapper still carries the backend-wide signal into every call.
  const retry = opts.retry === false ? { attempts: 1 } : opts.retry;
  return withRetry(logged, { ...retry, logger, ...(opts.signal ? { signal: opts.signal } : {}) });
}
