/**
 * The embedded default of `dr daemon --sandbox`: the semantics of policies/sandbox.yaml (the local
 * sandbox cluster, backups on the local disk every minute, API and metrics on loopback), with the
 * endpoints of the sandbox actually running and every path under the sandbox directory.
 *
 * The config is written to <sandbox>/daemon.yaml (so that SIGHUP reloads an edited copy, and a user
 * can read what runs) together with a random API token in <sandbox>/api-token (mode 0600), so that
 * `POST /api/v1/clusters/sandbox/backups` works out of the box on loopback.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config } from '../config/load.js';
import type { Logger } from '../core/logger.js';
import { writeTextAtomic } from '../core/safe-file.js';
import { defaultSandboxDir, sandboxUp } from '../sandbox/sandbox.js';

export const SANDBOX_LISTEN = '127.0.0.1:9464';

export function sandboxConfigText(endpoints: readonly string[], listen = SANDBOX_LISTEN): string {
  return `# Written by \`dr daemon --sandbox\` (see policies/sandbox.yaml); edit and send SIGHUP to reload.
version: 1
clusters:
  - name: sandbox
    endpoints: [${endpoints.map((e) => JSON.stringify(e)).join(', ')}]
    snapshotFrom: any
storage:
  - name: local
    url: file://./backups
policies:
  - name: every-minute
    cluster: sandbox
    schedule: "* * * * *"
    timezone: UTC
    storage: [local]
    compressionLevel: 1
    verifyAfterUpload: true
    retention:
      keepLast: 10
      keepHourly: 24
      keepDaily: 7
    # every change, in 5 s segments: dr restore|fetch|drill --revision R | --time T
    revisionLog:
      segmentSeconds: 5
      checkpointEverySeconds: 60
server:
  listen: ${listen}
  tokenFile: ./api-token
catalog:
  path: ./catalog.sqlite
concurrency: 1
`;
}

export interface SandboxDaemonConfig {
  file: string;
  tokenFile: string;
  config: Config;
}

/** Starts (or finds) the sandbox cluster and writes its daemon config; returns the loaded config. */
export async function prepareSandboxConfig(opts: {
  dir?: string;
  listen?: string;
  env: Readonly<Record<string, string | undefined>>;
  logger: Logger;
}): Promise<SandboxDaemonConfig> {
  const dir = path.resolve(opts.dir ?? defaultSandboxDir(process.cwd()));
  const up = await sandboxUp({ dir, logger: opts.logger });
  opts.logger.info({ dir, outcome: up.outcome, endpoints: up.endpoints }, 'sandbox cluster ready');
  await mkdir(path.join(dir, 'backups'), { recursive: true });
  const tokenFile = path.join(dir, 'api-token');
  if (!existsSync(tokenFile))
    await writeFile(tokenFile, randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  const file = path.join(dir, 'daemon.yaml');
  await writeTextAtomic(file, sandboxConfigText(up.endpoints, opts.listen));
  return { file, tokenFile, config: loadConfig(file, { env: opts.env }) };
}
