/**
 * `dr daemon` without the command line: config -> metrics -> scheduler (Daemon) -> HTTP server, then
 * wait for the shutdown signal. Reload (SIGHUP) re-reads the config file: a bad config is refused with
 * every error logged and the running config stays; a good one replaces schedules without touching
 * running jobs. Process signals are subscribed through `signals` so that tests can drive them.
 */
import { formatConfigError, loadConfig, type Config, type ConfigError } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { isDrError, toDrError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { TOOL_VERSION } from '../core/version.js';
import { buildHttpServer, listen, type HttpServer } from '../http/server.js';
import { createMetrics, type DrMetrics } from '../metrics/metrics.js';
import { DrillScheduler, type DrillSchedulerOptions } from '../drill/scheduler.js';
import { createDrillMetrics } from '../metrics/drill-metrics.js';
import { createLogMetrics } from '../metrics/log-metrics.js';
import { Daemon, type DaemonOptions } from './daemon.js';
import { RevisionLogs, type RevisionLogsOptions } from './revision-logs.js';

export interface RunDaemonOptions {
  /** the file to load, and to re-read on reload */
  configFile: string;
  /** an already loaded config (the sandbox default); else configFile is loaded */
  config?: Config;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
  /** aborting it starts the graceful shutdown */
  signal: AbortSignal;
  /** how long running jobs may take to finish after the shutdown signal. @default 30000 */
  graceMs?: number;
  /** subscribes to the reload signal (SIGHUP); returns an unsubscribe function */
  onReload?: (handler: () => void) => () => void;
  clock?: Clock;
  metrics?: DrMetrics;
  daemon?: Partial<Omit<DaemonOptions, 'logger' | 'metrics' | 'clock'>>;
  /** restore drills (src/drill/scheduler.ts): overrides for tests */
  drill?: Partial<Omit<DrillSchedulerOptions, 'logger' | 'metrics' | 'clock'>>;
  /** the revision logs (src/daemon/revision-logs.ts): overrides for tests */
  revisionLog?: Partial<Omit<RevisionLogsOptions, 'logger' | 'metrics' | 'clock'>>;
  /** called once the HTTP server listens */
  onListening?: (address: string, daemon: Daemon) => void;
}

export interface DaemonHandle {
  daemon: Daemon;
  /** the policies' scheduled restore drills */
  drills: DrillScheduler;
  /** the policies' revision logs */
  revisionLogs: RevisionLogs;
  http: HttpServer;
  address: string;
  /** settles when the daemon has stopped after the signal */
  stopped: Promise<void>;
  /** reloads as SIGHUP does; resolves to whether the new config was taken */
  reload(): Promise<boolean>;
}

/**
 * A reload signal (SIGHUP) subscribed at once, before anything slow: a signal that arrives while the
 * daemon is still starting (the sandbox, the config, the catalog sync) is remembered and handed to the
 * handler when one subscribes, instead of killing the process (Node's default for an unhandled SIGHUP).
 * The process listener stays installed until the process exits, so a SIGHUP during shutdown is ignored.
 */
export function bufferedSignal(
  sig: NodeJS.Signals,
  target: Pick<NodeJS.Process, 'on'> = process,
): (handler: () => void) => () => void {
  let current: (() => void) | null = null;
  let pending = 0;
  target.on(sig, () => {
    if (current) current();
    else pending++;
  });
  return (handler) => {
    current = handler;
    if (pending > 0) {
      pending = 0;
      queueMicrotask(handler);
    }
    return () => {
      if (current === handler) current = null;
    };
  };
}

/** Starts everything; throws CONFIG_INVALID (exit 2) for a bad config before anything runs. */
export async function startDaemon(opts: RunDaemonOptions): Promise<DaemonHandle> {
  const log = opts.logger;
  const clock = opts.clock ?? systemClock;
  // Subscribed before anything slow; a reload asked for while starting runs once the daemon is up.
  let reloadHandler: (() => void) | null = null;
  let reloadAskedDuringStart = false;
  const unsubscribe = opts.onReload?.(() => {
    if (reloadHandler) reloadHandler();
    else if (!reloadAskedDuringStart) {
      reloadAskedDuringStart = true;
      log.info({ config: opts.configFile }, 'reload requested while starting: it runs once the daemon is up');
    }
  });
  let config: Config;
  let daemon: Daemon;
  let metrics: DrMetrics;
  let drills: DrillScheduler;
  let revisionLogs: RevisionLogs;
  try {
    config = opts.config ?? loadConfig(opts.configFile, { env: opts.env });
    metrics = opts.metrics ?? createMetrics({ version: TOOL_VERSION, now: () => clock.now() });
    daemon = await Daemon.start(config, { ...opts.daemon, logger: log, metrics, clock });
  } catch (err) {
    unsubscribe?.();
    throw err;
  }
  try {
    drills = DrillScheduler.start(config, {
      pathEnv: opts.env.PATH,
      ...opts.drill,
      logger: log,
      metrics: createDrillMetrics(metrics.registry),
      clock,
    });
    revisionLogs = RevisionLogs.start(config, {
      onGap: (policy) => daemon.backupAfterLogGap(policy),
      ...opts.revisionLog,
      logger: log,
      metrics: createLogMetrics(metrics.registry),
      clock,
    });
  } catch (err) {
    unsubscribe?.();
    await daemon.stop(0);
    throw err;
  }
  let current = config;

  let http: HttpServer;
  let address: string;
  try {
    http = buildHttpServer({
      daemon,
      registry: metrics.registry,
      drills,
      token: () => current.server.token?.reveal() ?? null,
      logger: log,
    });
    address = await listen(http, config.server.host, config.server.port);
  } catch (err) {
    unsubscribe?.();
    await Promise.all([daemon.stop(0), drills.stop(0), revisionLogs.stop()]);
    throw err;
  }
  log.info({ address, tokenConfigured: config.server.token !== null }, 'http api listening');
  opts.onListening?.(address, daemon);

  const reloadOnce = async (): Promise<boolean> => {
    // Everything inside the try, including a loader that throws at once: the caller only ever sees
    // true or false, and `reloading` is cleared after it was set (see reload below).
    try {
      const next = loadConfig(opts.configFile, { env: opts.env });
      if (next.server.listen !== current.server.listen) {
        log.warn(
          { old: current.server.listen, new: next.server.listen },
          'reload: server.listen changes only on restart',
        );
      }
      await daemon.reload(next);
      drills.reload(next);
      await revisionLogs.reload(next);
      current = next;
      return true;
    } catch (err) {
      const e = toDrError(err, 'CONFIG_INVALID');
      const errors = isDrError(e, 'CONFIG_INVALID')
        ? ((e.details.errors as ConfigError[] | undefined) ?? [])
        : [];
      log.error(
        {
          config: opts.configFile,
          code: e.code,
          errors: errors.map(formatConfigError),
          err: errors.length ? undefined : e.message,
        },
        'reload refused: the new config is invalid; keeping the running config',
      );
      return false;
    }
  };
  // One reload at a time. A request during a reload runs once more after it (the file may have changed
  // after the running one read it). `reloading` is cleared by the promise's own continuation, which
  // always runs after the assignment below, so a refused reload never blocks the next ones.
  let reloading: Promise<boolean> | null = null;
  let again: Promise<boolean> | null = null;
  const reload = (): Promise<boolean> => {
    if (!reloading) {
      const p: Promise<boolean> = reloadOnce().finally(() => {
        if (reloading === p) reloading = null;
      });
      reloading = p;
      return p;
    }
    again ??= reloading.then(() => {
      again = null;
      return reload();
    });
    return again;
  };
  reloadHandler = () => {
    log.info({ config: opts.configFile }, 'reload requested');
    void reload();
  };
  if (reloadAskedDuringStart) reloadHandler();

  const stopped = new Promise<void>((resolve, reject) => {
    const stop = async (): Promise<void> => {
      log.info({ graceMs: opts.graceMs ?? 30_000 }, 'shutdown requested');
      unsubscribe?.();
      try {
        // The API stays up while jobs drain (health and metrics stay observable; triggers are refused).
        await Promise.all([
          daemon.stop(opts.graceMs ?? 30_000),
          drills.stop(opts.graceMs ?? 30_000),
          revisionLogs.stop(),
        ]);
        await http.close();
        resolve();
      } catch (err) {
        reject(err);
      }
    };
    if (opts.signal.aborted) void stop();
    else opts.signal.addEventListener('abort', () => void stop(), { once: true });
  });
  return { daemon, drills, revisionLogs, http, address, stopped, reload };
}

/** startDaemon, then wait until it has stopped. */
export async function runDaemon(opts: RunDaemonOptions): Promise<void> {
  const handle = await startDaemon(opts);
  await handle.stopped;
}
