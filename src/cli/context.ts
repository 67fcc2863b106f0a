/**
 * What every command shares: the connection flags (as etcdctl spells them), the storage URL, the catalog
 * path, and turning them into the objects core modules take. The only place that reads process.env.
 */
import type { KeyObject } from 'node:crypto';
import { accessSync, constants as fsConstants, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { systemClock, type Clock } from '../core/clock.js';
import { DrError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { EtcdConnectionOptions } from '../etcd/types.js';
import { Catalog } from '../catalog/catalog.js';
import type { AgeIdentities } from '../crypto/age-keys.js';
import { readIdentityFile } from '../crypto/key-files.js';
import { redactUrl } from '../core/redact.js';
import {
  loadSigningKey,
  loadVerifyKeys,
  NO_TRUST,
  type ManifestTrust,
} from '../manifest/manifest-signature.js';
import { openBackend } from '../storage/open-backend.js';
import type { Backend } from '../storage/backend.js';
import type { LeaseOwner } from '../storage/lease.js';

export interface GlobalFlags {
  json?: boolean;
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  config?: string;
  cluster?: string;
  storage?: string;
  catalog?: string;
  verifyKey?: string;
  signKey?: string;
  dialTimeout?: string;
  commandTimeout?: string;
  identity?: string;
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print exactly one JSON document on stdout');
}

/** --user / --password / --password-file: etcd credentials (resolveAuth reads them) */
export function addAuthOptions(cmd: Command, what = 'etcd user'): Command {
  return cmd
    .option(
      '--user <name[:password]>',
      `${what} (password after a colon, or from --password / --password-file / DR_ETCD_PASSWORD)`,
    )
    .option('--password <password>', 'etcd password (prefer --password-file: argv is visible to other users)')
    .option('--password-file <file>', 'file holding the etcd password');
}

export function addConnectionOptions(cmd: Command): Command {
  return addAuthOptions(
    cmd
      .option('--endpoints <list>', 'comma-separated etcd client URLs (env ETCDCTL_ENDPOINTS)')
      .option('--cacert <file>', 'CA bundle that signed the etcd server certificates')
      .option('--cert <file>', 'client certificate for mTLS')
      .option('--key <file>', 'client private key for mTLS'),
  )
    .option('--config <file>', 'dr config file (YAML) that defines clusters and storage')
    .option('--cluster <name>', 'cluster name in --config')
    .option('--dial-timeout <ms>', 'connect timeout per endpoint in milliseconds', '5000')
    .option('--command-timeout <ms>', 'timeout of one etcd request in milliseconds', '10000');
}

export function addStorageOption(cmd: Command): Command {
  return cmd
    .option(
      '--storage <url>',
      "file:///abs/dir, 's3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true' or 'azblob://container/prefix?account=NAME' (env DR_STORAGE)",
    )
    .option(
      '--catalog <file>',
      "SQLite catalog (default: --config's, else env DR_CATALOG, else the daemon's /var/lib/etcd-dr/catalog.sqlite when it exists and is writable, else $XDG_STATE_HOME/etcd-dr/catalog.sqlite)",
    )
    .option(
      '--verify-key <file>',
      "Ed25519 public key(s) (PEM): refuse manifests without a valid signature (env DR_VERIFY_KEY, or --config's manifests.verifyKeyFile)",
    );
}

/** --config for commands that only read storage and the catalog (list, show, catalog rebuild, ...). */
export function addConfigOption(cmd: Command): Command {
  return cmd.option(
    '--config <file>',
    "dr config file (the daemon's): its catalog, and its storage target (--storage NAME picks one of several)",
  );
}

/** --identity, on every command that reads a backup's contents (verify, fetch, audit, diff, inspect, restore, drill). */
export function addIdentityOption(cmd: Command): Command {
  return cmd.option(
    '--identity <file>',
    'age identity file (AGE-SECRET-KEY-1..., mode 0600) for encrypted backups (env DR_AGE_IDENTITY_FILE)',
  );
}

/**
 * The age identities: --identity FILE, else env DR_AGE_IDENTITY_FILE; null when neither is set (an
 * encrypted backup is then refused, naming its recipients). The file is read once per command.
 */
export async function resolveIdentities(ctx: CommandContext): Promise<AgeIdentities | null> {
  const file = ctx.flags.identity ?? ctx.env.DR_AGE_IDENTITY_FILE;
  if (!file) return null;
  if (ctx.identities?.file === file) return ctx.identities;
  ctx.identities = await readIdentityFile(file);
  return ctx.identities;
}

export function addClusterNameOption(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--cluster-name <name>',
      'name the backups are grouped under (default: --cluster, else "default")',
    ),
  );
}

export interface CommandContext {
  flags: GlobalFlags;
  logger: Logger;
  clock: Clock;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** --config's storage targets and catalog, once openStorage has read the file */
  configStorage?: ConfigStorage;
  /** the age identities, once resolveIdentities has read them */
  identities?: AgeIdentities;
}

interface ConfigStorage {
  file: string;
  catalog: string;
  manifests: { signKeyFile: string | null; verifyKeyFile: string | null };
  targets: { name: string; url: string }[];
}

export function makeContext(flags: GlobalFlags, signal: AbortSignal): CommandContext {
  return {
    flags,
    logger: createLogger(process.env.DR_LOG_LEVEL),
    clock: systemClock,
    env: process.env,
    signal,
  };
}

function positiveInt(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0)
    throw new DrError('USAGE', `${flag}: "${raw}" is not a positive number of milliseconds`);
  return n;
}

function readSecretFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new DrError(
      'USAGE',
      `${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/**
 * The etcd connection from flags, or from --config/--cluster (flags given explicitly win). The config
 * loader (zod, yaml: ~130 ms to load) is imported only when a config file is given.
 */
export async function resolveEtcdOptions(ctx: CommandContext): Promise<EtcdConnectionOptions> {
  const f = ctx.flags;
  let base: EtcdConnectionOptions | undefined;
  if (f.config || f.cluster) {
    if (!f.config || !f.cluster) throw new DrError('USAGE', '--config and --cluster go together');
    const { loadClusterFromConfig } = await import('./config-source.js');
    base = loadClusterFromConfig(f.config, f.cluster, ctx.env).connection;
  }
  const endpointsRaw = f.endpoints ?? ctx.env.ETCDCTL_ENDPOINTS;
  const endpoints = endpointsRaw
    ? endpointsRaw
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean)
    : base?.endpoints;
  if (!endpoints?.length)
    throw new DrError('USAGE', 'no etcd endpoints: pass --endpoints (or --config FILE --cluster NAME)');
  for (const e of endpoints) {
    if (
      !/^(https?:\/\/)?[^\s/:]+(:\d+)?\/?$/.test(e) &&
      !/^(https?:\/\/)?\[[0-9a-f:]+\](:\d+)?\/?$/i.test(e)
    ) {
      throw new DrError('USAGE', `--endpoints: "${redactUrl(e)}" is not host:port or a http(s) URL`);
    }
  }
  const auth = resolveAuth(ctx, base);
  return {
    ...base,
    endpoints,
    caFile: f.cacert ?? base?.caFile,
    certFile: f.cert ?? base?.certFile,
    keyFile: f.key ?? base?.keyFile,
    user: auth?.user,
    password: auth?.password,
    dialTimeoutMs: positiveInt(f.dialTimeout, '--dial-timeout', base?.dialTimeoutMs ?? 5000),
    requestTimeoutMs: positiveInt(f.commandTimeout, '--command-timeout', base?.requestTimeoutMs ?? 10000),
  };
}

/**
 * The etcd credentials from --user (name or name:password), --password, --password-file or
 * DR_ETCD_PASSWORD, over the config's (`base`); undefined when no user is given.
 */
export function resolveAuth(
  ctx: CommandContext,
  base?: { user?: string; password?: string },
): { user: string; password: string } | undefined {
  const f = ctx.flags;
  let user = f.user ?? base?.user;
  let password =
    f.password ??
    (f.passwordFile ? readSecretFile(f.passwordFile, '--password-file') : undefined) ??
    base?.password;
  if (f.user?.includes(':')) {
    const i = f.user.indexOf(':');
    user = f.user.slice(0, i);
    password = f.user.slice(i + 1);
  }
  if (user && password === undefined) password = ctx.env.DR_ETCD_PASSWORD;
  if (user && password === undefined)
    throw new DrError(
      'USAGE',
      `--user ${user}: no password (use --password-file, --user name:password or DR_ETCD_PASSWORD)`,
    );
  if (!user && (f.password || f.passwordFile)) throw new DrError('USAGE', '--password needs --user');
  return user ? { user, password: password! } : undefined;
}

export function resolveClusterName(ctx: CommandContext, explicit?: string): string {
  return explicit ?? ctx.flags.cluster ?? 'default';
}

export function storageUrl(ctx: CommandContext): string {
  const url = ctx.flags.storage ?? ctx.env.DR_STORAGE;
  if (!url) throw new DrError('USAGE', 'no storage: pass --storage URL (or set DR_STORAGE)');
  return url;
}

/** Reads --config's storage targets and catalog path once (offline: no secret is read). */
async function configStorage(ctx: CommandContext): Promise<ConfigStorage | undefined> {
  if (!ctx.flags.config) return undefined;
  if (ctx.configStorage?.file === ctx.flags.config) return ctx.configStorage;
  const [{ loadConfig }, { storageUrlOf }] = await Promise.all([
    import('../config/load.js'),
    import('../daemon/runtime.js'),
  ]);
  const config = loadConfig(ctx.flags.config, { env: ctx.env, offline: true });
  ctx.configStorage = {
    file: ctx.flags.config,
    catalog: config.catalog.path,
    manifests: config.manifests,
    targets: config.storage.map((t) => ({ name: t.name, url: storageUrlOf(t) })),
  };
  return ctx.configStorage;
}

/**
 * The storage URL: --storage (a URL, or with --config the name of one of its targets), else with --config
 * its only target, else DR_STORAGE.
 */
export async function resolveStorageUrl(ctx: CommandContext): Promise<string> {
  const cs = await configStorage(ctx);
  if (cs) {
    const names = cs.targets.map((t) => t.name).join(', ') || 'none';
    const wanted = ctx.flags.storage;
    if (wanted !== undefined) {
      const named = cs.targets.find((t) => t.name === wanted);
      if (named) return named.url;
      if (!wanted.includes('://'))
        throw new DrError(
          'USAGE',
          `--storage: ${cs.file} has no storage target "${wanted}" (targets: ${names})`,
        );
      return wanted;
    }
    if (cs.targets.length === 1) return cs.targets[0]!.url;
    throw new DrError(
      'USAGE',
      `${cs.file} has ${cs.targets.length} storage targets: pick one with --storage NAME (${names})`,
    );
  }
  return storageUrl(ctx);
}

export async function openStorage(ctx: CommandContext): Promise<Backend> {
  // SIGTERM/SIGINT end the requests in flight, not only the waits between them.
  return openBackend(await resolveStorageUrl(ctx), {
    logger: ctx.logger,
    signal: ctx.signal,
    env: process.env,
  });
}

/**
 * The storage for a command that must finish its last write after SIGTERM (`dr log follow` commits its
 * open segment): its requests do not take the command's signal. A second signal still ends the process.
 */
export async function openStorageUnbound(ctx: CommandContext): Promise<Backend> {
  return openBackend(await resolveStorageUrl(ctx), { logger: ctx.logger, env: process.env });
}

/**
 * What readers require of manifests: the public key(s) from --verify-key, else env DR_VERIFY_KEY, else the
 * --config file's manifests.verifyKeyFile; none: manifests need no signature. Call after openStorage
 * (which reads --config).
 */
export async function manifestTrust(ctx: CommandContext): Promise<ManifestTrust> {
  const cs = await configStorage(ctx);
  const [file, source] = ctx.flags.verifyKey
    ? [ctx.flags.verifyKey, '--verify-key']
    : ctx.env.DR_VERIFY_KEY
      ? [ctx.env.DR_VERIFY_KEY, 'DR_VERIFY_KEY']
      : [cs?.manifests.verifyKeyFile, `${cs?.file}: manifests.verifyKeyFile`];
  if (!file) return NO_TRUST;
  return { verifyKeys: loadVerifyKeys([file], source) };
}

/** The manifest signing key from --sign-key, else env DR_SIGN_KEY, else --config's manifests.signKeyFile. */
export async function manifestSigningKey(ctx: CommandContext): Promise<KeyObject | null> {
  const cs = await configStorage(ctx);
  const [file, source] = ctx.flags.signKey
    ? [ctx.flags.signKey, '--sign-key']
    : ctx.env.DR_SIGN_KEY
      ? [ctx.env.DR_SIGN_KEY, 'DR_SIGN_KEY']
      : [cs?.manifests.signKeyFile, `${cs?.file}: manifests.signKeyFile`];
  return file ? loadSigningKey(file, source) : null;
}

/** The daemon's default catalog (config `catalog.path`), shared by the CLI when it exists and is writable. */
export const DAEMON_DEFAULT_CATALOG = '/var/lib/etcd-dr/catalog.sqlite';

function writable(file: string): boolean {
  try {
    accessSync(file, fsConstants.R_OK | fsConstants.W_OK);
    accessSync(path.dirname(file), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The catalog: --catalog, else the --config file's (the daemon's) once openStorage has read it, else
 * DR_CATALOG, else the daemon's default location when that catalog exists and this user may write it,
 * else $XDG_STATE_HOME/etcd-dr/catalog.sqlite.
 */
export function catalogPath(ctx: CommandContext, daemonDefault = DAEMON_DEFAULT_CATALOG): string {
  if (ctx.flags.catalog) return ctx.flags.catalog;
  if (ctx.configStorage && ctx.configStorage.file === ctx.flags.config) return ctx.configStorage.catalog;
  if (ctx.env.DR_CATALOG) return ctx.env.DR_CATALOG;
  if (writable(daemonDefault)) return daemonDefault;
  const state = ctx.env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(state, 'etcd-dr', 'catalog.sqlite');
}

export function openCatalog(ctx: CommandContext): Catalog {
  return Catalog.open(catalogPath(ctx));
}

/** This process as the holder of a storage lease (`dr prune`, `dr gc`). */
export function leaseOwner(command: string): LeaseOwner {
  return { host: os.hostname(), pid: process.pid, command };
}

export function addBreakLeaseOption(cmd: Command): Command {
  return cmd.option(
    '--break-lease',
    "take the prefix's lease even when another dr process holds it (only when that process is known to be gone)",
  );
}
