/**
 * Loading a config file: YAML (positions kept) -> schema -> cross-references -> files and secrets.
 * Every stage runs even when an earlier one found errors (as far as the document allows), and every
 * error carries file, line, column and field path:
 *
 *   policies.yaml:14:7: policies[0].schedule: invalid cron expression "* * *": expected 5 or 6 fields but got 3
 *
 * Side effects are limited to reading the files the config names (password and token files, TLS files
 * for a readability check). The environment is a parameter, never process.env.
 * Relative paths (TLS, password and token files, the catalog, file:// storage) are resolved against
 * `baseDir`, by default the config file's directory.
 *
 * Over 400 lines on purpose: the loading stages share one error list with file:line:col positions; they
 * are small functions in order, read top to bottom.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { DrError } from '../core/errors.js';
import { cronIntervalSeconds } from './cron.js';
import { checkReferences, type PathIssue } from './references.js';
import {
  configSchema,
  type ClusterDocument,
  type ConfigDocument,
  type DrillDocument,
  type RevisionLogDocument,
  type PolicyDocument,
  type StorageDocument,
} from './schema.js';
import { Secret } from './secret.js';
import { parseMembers, type MembersFile } from './members-file.js';
import { formatPath, positionOf } from './yaml-positions.js';

export interface ConfigError {
  file: string;
  line: number;
  column: number;
  /** e.g. policies[0].schedule */
  path: string;
  message: string;
}

export interface LoadOptions {
  /** environment for passwordEnv / tokenEnv (the CLI passes process.env) */
  env?: Readonly<Record<string, string | undefined>>;
  /** directory relative paths are resolved against; default: the config file's directory */
  baseDir?: string;
  /**
   * Check structure and references only: read no file and no environment variable (secrets become
   * Secret.unresolved). For validating a config away from the hosts it is meant for.
   */
  offline?: boolean;
}

export interface ClusterConfig extends Omit<ClusterDocument, 'auth'> {
  auth: { user: string; password: Secret } | null;
  /**
   * The restore target (`dr restore --config FILE --cluster NAME`): `restore:`, or the short form
   * `members:`, as a members file; clientTls defaults to the cluster's tls (with a CA file), oldCluster to
   * the cluster's endpoints. null: the cluster has none.
   */
  restoreTarget: MembersFile | null;
}

export interface DrillConfig extends DrillDocument {
  /** the storage target drills read from (drill.storage, else the policy's first) */
  storage: string;
  /** longest gap between two drills of the schedule */
  expectedIntervalSeconds: number;
  /** drill.staleAfterSeconds, or twice the drill interval */
  staleAfterSeconds: number;
}

export interface RevisionLogConfig extends RevisionLogDocument {
  /** the storage target the log is written to (revisionLog.storage, else the policy's first) */
  storage: string;
}

export interface PolicyConfig extends Omit<PolicyDocument, 'drill' | 'revisionLog'> {
  /** scheduled restore drills (src/drill), or null */
  drill: DrillConfig | null;
  /** the revision log the daemon writes (src/revlog), or null */
  revisionLog: RevisionLogConfig | null;
  /** longest wall-clock gap between two firings of the schedule (see cron.ts) */
  expectedIntervalSeconds: number;
  /** alerts.staleAfterSeconds, or twice the interval */
  staleAfterSeconds: number;
}

/** What `dr config validate` and the daemon's status show of a policy: its schedule and where it goes. */
export function policySummary(p: PolicyConfig) {
  return {
    name: p.name,
    cluster: p.cluster,
    schedule: p.schedule,
    timezone: p.timezone,
    storage: p.storage,
    expectedIntervalSeconds: p.expectedIntervalSeconds,
    staleAfterSeconds: p.staleAfterSeconds,
  };
}

export interface ServerConfig {
  listen: string;
  host: string;
  port: number;
  /** bearer token of mutating endpoints; null: mutating endpoints are refused */
  token: Secret | null;
}

export interface Config {
  /** absolute path of the file it came from */
  file: string;
  version: 1;
  clusters: ClusterConfig[];
  storage: StorageDocument[];
  policies: PolicyConfig[];
  server: ServerConfig;
  catalog: { path: string };
  /** key files for manifest signatures, absolute; null when not set */
  manifests: { signKeyFile: string | null; verifyKeyFile: string | null };
  concurrency: number;
}

export type ValidationResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

/** Reads and validates a config file; throws DrError CONFIG_INVALID with details.errors listing every error. */
export function loadConfig(file: string, opts: LoadOptions = {}): Config {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const error: ConfigError = {
      file: abs,
      line: 1,
      column: 1,
      path: '(file)',
      message: `cannot read the config file: ${why}`,
    };
    throw new DrError(
      'CONFIG_INVALID',
      `config: cannot read ${abs}: ${why}`,
      { errors: [error] },
      { cause: err },
    );
  }
  return parseConfigText(text, abs, { ...opts, baseDir: opts.baseDir ?? path.dirname(abs) });
}

/** Like loadConfig for text already in memory; `file` names it in messages. */
export function parseConfigText(text: string, file: string, opts: LoadOptions = {}): Config {
  const result = validateConfigText(text, file, opts);
  if (result.ok) return result.config;
  throw configInvalid(result.errors);
}

export function configInvalid(errors: ConfigError[]): DrError {
  const first = errors[0];
  const head = first
    ? `config: ${errors.length} error${errors.length === 1 ? '' : 's'} in ${first.file}`
    : 'config: invalid';
  return new DrError('CONFIG_INVALID', [head, ...errors.map(formatConfigError)].join('\n  '), { errors });
}

export function formatConfigError(e: ConfigError): string {
  return `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}`;
}

/** Every error of a config text, or the loaded config. Never throws for a bad config. */
export function validateConfigText(text: string, file: string, opts: LoadOptions = {}): ValidationResult {
  const baseDir = opts.baseDir ?? path.dirname(path.resolve(file));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const errors: ConfigError[] = [];

  for (const e of doc.errors) {
    const p = lines.linePos(e.pos[0]);
    errors.push({
      file,
      line: p.line,
      column: p.col,
      path: '(yaml)',
      message: e.message.split('\n')[0] ?? e.message,
    });
  }
  if (errors.length > 0) return { ok: false, errors };
  if (doc.contents === null) {
    return {
      ok: false,
      errors: [{ file, line: 1, column: 1, path: '(top level)', message: 'the file is empty' }],
    };
  }

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const at = (issuePath: readonly PropertyKey[], message: string, atKey = false): void => {
    const segs = issuePath.filter((s): s is string | number => typeof s !== 'symbol');
    const pos = positionOf(doc, lines, segs, atKey);
    errors.push({ file, line: pos.line, column: pos.column, path: formatPath(segs), message });
  };

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) at([...issue.path, key], unknownOption(issue.path, key), true);
      } else if (issue.code === 'invalid_key') {
        at(issue.path, issue.issues[0]?.message ?? issue.message, true);
      } else {
        at(issue.path, describeIssue(issue, raw));
      }
    }
  }
  for (const issue of checkReferences(raw)) at(issue.path, issue.message);

  const external = resolveExternal(raw, baseDir, opts);
  for (const issue of external.issues) at(issue.path, issue.message);

  if (!parsed.success || errors.length > 0) return { ok: false, errors: sortErrors(errors) };
  return { ok: true, config: build(parsed.data, path.resolve(file), baseDir, external.secrets) };
}

function build(d: ConfigDocument, file: string, baseDir: string, secrets: Map<string, Secret>): Config {
  const abs = (p: string): string => path.resolve(baseDir, p);
  const clusters: ClusterConfig[] = d.clusters.map((c, i) => {
    const { auth, tls, ...rest } = c;
    const password = secrets.get(`clusters.${i}.auth`);
    return {
      ...rest,
      ...(tls
        ? {
            tls: {
              ...(tls.caFile !== undefined ? { caFile: abs(tls.caFile) } : {}),
              ...(tls.certFile !== undefined ? { certFile: abs(tls.certFile) } : {}),
              ...(tls.keyFile !== undefined ? { keyFile: abs(tls.keyFile) } : {}),
            },
          }
        : {}),
      auth: auth && password ? { user: auth.user, password } : null,
      restoreTarget: restoreTargetOf(c, abs),
    };
  });
  const storage = d.storage.map((s) => ({ ...s, url: resolveFileUrl(s.url, baseDir) }));
  const policies: PolicyConfig[] = d.policies.map((p) => {
    const interval = cronIntervalSeconds(p.schedule, p.timezone);
    let drill: DrillConfig | null = null;
    if (p.drill) {
      const every = cronIntervalSeconds(p.drill.schedule, p.timezone);
      drill = {
        ...p.drill,
        storage: p.drill.storage ?? p.storage[0]!,
        workDir: p.drill.workDir,
        expectedIntervalSeconds: every,
        staleAfterSeconds: p.drill.staleAfterSeconds ?? 2 * every,
      };
    }
    return {
      ...p,
      drill,
      revisionLog: p.revisionLog
        ? { ...p.revisionLog, storage: p.revisionLog.storage ?? p.storage[0]! }
        : null,
      expectedIntervalSeconds: interval,
      staleAfterSeconds: p.alerts.staleAfterSeconds ?? 2 * interval,
    };
  });
  const [host, port] = splitHostPort(d.server.listen);
  return {
    file,
    version: d.version,
    clusters,
    storage,
    policies,
    server: { listen: d.server.listen, host, port, token: secrets.get('server.token') ?? null },
    catalog: { path: abs(d.catalog.path) },
    manifests: {
      signKeyFile: d.manifests.signKeyFile ? abs(d.manifests.signKeyFile) : null,
      verifyKeyFile: d.manifests.verifyKeyFile ? abs(d.manifests.verifyKeyFile) : null,
    },
    concurrency: d.concurrency,
  };
}

function restoreTargetOf(c: ClusterDocument, abs: (p: string) => string): MembersFile | null {
  const given: Partial<MembersFile> | null = c.restore ?? (c.members ? { members: c.members } : null);
  if (!given) return null;
  const scheme = c.tls ? 'https://' : 'http://';
  const endpoints = c.endpoints
    .map((e) => (/^https?:\/\//.test(e) ? e : scheme + e).replace(/\/$/, ''))
    .filter((e) => /^(http|https):\/\/[^/?#\s]+:\d{1,5}$/.test(e));
  const clientTls =
    c.tls?.caFile !== undefined
      ? {
          caFile: abs(c.tls.caFile),
          ...(c.tls.certFile !== undefined ? { certFile: abs(c.tls.certFile) } : {}),
          ...(c.tls.keyFile !== undefined ? { keyFile: abs(c.tls.keyFile) } : {}),
        }
      : undefined;
  return parseMembers(
    {
      ...given,
      clientTls: given.clientTls ?? clientTls,
      oldCluster: given.oldCluster ?? (endpoints.length > 0 ? { endpoints } : undefined),
    },
    `clusters.${c.name}.restore`,
  );
}

/** file://./x and file://x are relative to baseDir; file:///x is absolute; other schemes pass through. */
export function resolveFileUrl(url: string, baseDir: string): string {
  if (!url.startsWith('file://')) return url;
  const rest = url.slice('file://'.length);
  if (rest.startsWith('/')) return url;
  return pathToFileURL(path.resolve(baseDir, decodeURIComponent(rest))).href;
}

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[(.*)\]$/, '$1'), Number(listen.slice(i + 1))];
}

// ---------- files and secrets ----------

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Reads password and token files and variables, and checks that TLS files are readable PEM. Reads the
 * raw document defensively so that it reports alongside schema errors. Messages name the file or the
 * variable, never a value.
 */
function resolveExternal(
  raw: unknown,
  baseDir: string,
  opts: LoadOptions,
): { issues: PathIssue[]; secrets: Map<string, Secret> } {
  const issues: PathIssue[] = [];
  const secrets = new Map<string, Secret>();
  if (!isObject(raw)) return { issues, secrets };
  const env = opts.env ?? {};

  const secret = (
    key: string,
    file: string | undefined,
    envName: string | undefined,
    where: (string | number)[],
  ): void => {
    if (file !== undefined) {
      const abs = path.resolve(baseDir, file);
      if (opts.offline) return void secrets.set(key, Secret.unresolved(`file ${abs}`));
      try {
        const value = readFileSync(abs, 'utf8').replace(/\r?\n$/, '');
        if (value === '') issues.push({ path: [...where, fileKey(key)], message: `${abs} is empty` });
        else secrets.set(key, Secret.of(value, `file ${abs}`));
      } catch (err) {
        issues.push({ path: [...where, fileKey(key)], message: `cannot read ${abs}: ${errno(err)}` });
      }
    } else if (envName !== undefined) {
      if (opts.offline) return void secrets.set(key, Secret.unresolved(`env ${envName}`));
      const value = env[envName];
      if (value === undefined || value === '') {
        issues.push({
          path: [...where, envKey(key)],
          message: `environment variable ${envName} is ${value === undefined ? 'not set' : 'empty'}`,
        });
      } else secrets.set(key, Secret.of(value, `env ${envName}`));
    }
  };

  const clusters = Array.isArray(raw.clusters) ? raw.clusters : [];
  clusters.forEach((c, i) => {
    if (!isObject(c)) return;
    if (isObject(c.auth)) {
      const f = str(c.auth.passwordFile);
      const e = str(c.auth.passwordEnv);
      // Both or neither is a schema error; do not add a second message for it.
      if ((f === undefined) !== (e === undefined))
        secret(`clusters.${i}.auth`, f, e, ['clusters', i, 'auth']);
    }
    if (isObject(c.tls) && !opts.offline) {
      for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
        const f = str(c.tls[k]);
        if (f === undefined) continue;
        const abs = path.resolve(baseDir, f);
        try {
          const pem = readFileSync(abs, 'utf8');
          if (!/-----BEGIN [A-Z0-9 ]+-----/.test(pem)) {
            issues.push({ path: ['clusters', i, 'tls', k], message: `${abs} is not a PEM file` });
          }
        } catch (err) {
          issues.push({ path: ['clusters', i, 'tls', k], message: `cannot read ${abs}: ${errno(err)}` });
        }
      }
    }
  });

  if (isObject(raw.server)) {
    const f = str(raw.server.tokenFile);
    const e = str(raw.server.tokenEnv);
    if (!(f !== undefined && e !== undefined)) secret('server.token', f, e, ['server']);
  }
  return { issues, secrets };
}

const fileKey = (key: string): string => (key === 'server.token' ? 'tokenFile' : 'passwordFile');
const envKey = (key: string): string => (key === 'server.token' ? 'tokenEnv' : 'passwordEnv');
const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

// ---------- messages ----------

type Issue = z.core.$ZodIssue;

function valueAt(raw: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = raw;
  for (const seg of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

/** Zod's wording, made specific; values are never echoed (they may be secrets). */
function describeIssue(issue: Issue, raw: unknown): string {
  if (issue.code === 'invalid_type') {
    const actual = valueAt(raw, issue.path);
    const expected =
      issue.expected === 'object'
        ? 'a mapping'
        : issue.expected === 'array'
          ? 'a list'
          : `a ${issue.expected}`;
    if (actual === undefined) return `required (${expected})`;
    return `expected ${expected}, got ${kindOf(actual)}`;
  }
  return issue.message;
}

let shapeCache: unknown;
function schemaAt(p: readonly PropertyKey[]): Raw | undefined {
  shapeCache ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  let node: unknown = shapeCache;
  for (const seg of p) {
    if (!isObject(node)) return undefined;
    if (typeof seg === 'number') node = node.items;
    else node = isObject(node.properties) ? node.properties[seg as string] : undefined;
  }
  return isObject(node) ? node : undefined;
}

function unknownOption(parent: readonly PropertyKey[], key: string): string {
  const props = schemaAt(parent)?.properties;
  const allowed = isObject(props) ? Object.keys(props) : [];
  const close =
    allowed.find((a) => a.toLowerCase() === key.toLowerCase()) ??
    allowed.find((a) => editDistance(a, key) <= 2);
  const hint =
    close !== undefined
      ? ` (did you mean "${close}"?)`
      : allowed.length > 0
        ? ` (allowed: ${allowed.join(', ')})`
        : '';
  return `unknown option "${key}"${hint}`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}

function sortErrors(errors: ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  return errors
    .filter((e) => {
      const k = formatConfigError(e);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column);
}
