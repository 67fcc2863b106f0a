/**
 * The --storage URL: the only way a user names a storage target. Pure parsing, no I/O, no environment:
 * credentials never travel in the URL (the s3 backend takes them from the AWS default chain), and every
 * message about a URL goes through redactUrl in case someone put a secret in it anyway.
 *
 *   file:///abs/dir
 *   s3://bucket/prefix?endpoint=http://host:port&region=us-east-1&forcePathStyle=true
 *       &maxAttempts=3&partSizeMiB=5&queueSize=2&connectTimeoutMs=10000&socketTimeoutMs=60000
 *       &requestTimeoutMs=300000&checksum=crc32c|sha256|off&conditionalWrites=true|false
 *   azblob://container/prefix?account=NAME&endpoint=https://NAME.blob.core.windows.net
 *       &maxAttempts=3&blockSizeMiB=16&queueSize=2&connectTimeoutMs=10000&socketTimeoutMs=60000
 *       &requestTimeoutMs=300000
 *
 * Just over 400 lines on purpose: the three schemes share one entry point, one error path and one prefix
 * rule, and their parameter tables sit side by side; split per scheme, each would repeat them.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DrError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';

export interface FileStorageUrl {
  scheme: 'file';
  /** Absolute, normalised directory. */
  dir: string;
  /** The URL with credentials removed, for messages. */
  redacted: string;
}

export interface S3StorageUrl {
  scheme: 's3';
  bucket: string;
  /** '' or a prefix ending in '/' that every key is stored under. */
  prefix: string;
  /** S3-compatible endpoint (http or https, no path); undefined means AWS itself. */
  endpoint?: string;
  /** undefined lets the AWS default chain (AWS_REGION, profile) decide. */
  region?: string;
  /** @default false (virtual-hosted style, as AWS wants); most S3-compatible servers need true. */
  forcePathStyle: boolean;
  /** Attempts per HTTP request made by the SDK itself (parts of a multipart upload included). @default 3 */
  maxAttempts: number;
  /** Multipart part size in MiB (>= 5); memory per upload is about (queueSize + 1) x partSizeMiB. @default 5 */
  partSizeMiB: number;
  /** Parts uploaded concurrently; each holds a part in memory (figures: docs/benchmarks.md). @default 2 */
  queueSize: number;
  /** TCP connect timeout. @default 10000 */
  connectTimeoutMs: number;
  /** A request fails when no byte moved either way for this long (its response body included). @default 60000 */
  socketTimeoutMs: number;
  /** A request fails when its answer has not begun this long after it was sent (a part's upload included). @default 300000 */
  requestTimeoutMs: number;
  /**
   * Request checksum the SDK computes for every upload (and validates on downloads that carry one),
   * or null for none (only where an operation requires one).
   * @default SHA256 on AWS (no endpoint): node:crypto's native SHA-256 costs a third of the SDK's
   * pure-JavaScript CRC32C (docs/benchmarks.md); null on a custom endpoint (many S3-compatible servers
   * refuse them)
   */
  checksum: S3Checksum | null;
  /**
   * The server honours If-None-Match on PutObject (create only if absent): the lease uses it.
   * @default true on AWS (no endpoint), false on a custom endpoint
   */
  conditionalWrites: boolean;
  redacted: string;
}

export interface AzblobStorageUrl {
  scheme: 'azblob';
  /** Storage account name (3-24 lowercase letters and digits). */
  account: string;
  container: string;
  /** '' or a prefix ending in '/' that every blob name starts with. */
  prefix: string;
  /**
   * Blob service URL (http or https, may carry a path such as Azurite's `/devstoreaccount1`, no
   * trailing slash). undefined means the connection string's BlobEndpoint, else
   * `https://<account>.blob.core.windows.net`.
   */
  endpoint?: string;
  /** Tries per HTTP request made by the SDK itself (each staged block included). @default 3 */
  maxAttempts: number;
  /** Block size in MiB; memory per upload is about (queueSize + 1) x blockSizeMiB. @default 16 */
  blockSizeMiB: number;
  /** Blocks staged concurrently. @default 2 */
  queueSize: number;
  /** TCP connect timeout. @default 10000 */
  connectTimeoutMs: number;
  /** A download fails when no byte arrived for this long. @default 60000 */
  socketTimeoutMs: number;
  /** A request fails when its answer has not begun this long after it was sent (a block's upload included). @default 300000 */
  requestTimeoutMs: number;
  redacted: string;
}

export type StorageUrl = FileStorageUrl | S3StorageUrl | AzblobStorageUrl;
export type S3Checksum = 'CRC32C' | 'SHA256';

/** S3's smallest part (all but the last); 10,000 of them hold 48 GiB, far above etcd's 8 GiB quota. */
export const MIN_PART_SIZE_MIB = 5;
/**
 * 5 MiB parts, 2 in flight (as rclone's defaults): the pool of 3 part buffers costs 15 MiB, which keeps a
 * 1 GiB backup to S3 near the 150 MB budget (docs/benchmarks.md, "S3 backup memory").
 */
const DEFAULT_PART_SIZE_MIB = 5;
/** S3's limit for one part. */
const MAX_PART_SIZE_MIB = 5 * 1024;

const S3_PARAMS = [
  'endpoint',
  'region',
  'forcePathStyle',
  'maxAttempts',
  'partSizeMiB',
  'queueSize',
  'connectTimeoutMs',
  'socketTimeoutMs',
  'requestTimeoutMs',
  'checksum',
  'conditionalWrites',
] as const;

const AZBLOB_PARAMS = [
  'account',
  'endpoint',
  'maxAttempts',
  'blockSizeMiB',
  'queueSize',
  'connectTimeoutMs',
  'socketTimeoutMs',
  'requestTimeoutMs',
] as const;
const DEFAULT_BLOCK_SIZE_MIB = 16;
/** Azure's limit for one block (API version 2019-12-12 and later). */
const MAX_BLOCK_SIZE_MIB = 4000;
/** Query parameters of a shared access signature: a credential, never accepted in the URL. */
const SAS_PARAMS = new Set(['sig', 'sv', 'se', 'sp', 'ss', 'srt', 'sr', 'st', 'spr', 'skoid']);

/**
 * redactUrl plus the URLs nested in query values (an endpoint=http://user:pass@host would otherwise
 * pass through it untouched).
 */
export function redactStorageUrl(raw: string): string {
  const shown = redactUrl(raw);
  let url: URL;
  try {
    url = new URL(shown);
  } catch {
    return shown;
  }
  let changed = false;
  for (const [k, v] of [...url.searchParams]) {
    const r = v.includes('@') ? redactUrl(v) : v;
    if (r !== v) {
      url.searchParams.set(k, r);
      changed = true;
    }
  }
  return changed ? url.toString() : shown;
}

export function parseStorageUrl(raw: string): StorageUrl {
  const shown = redactStorageUrl(raw);
  const fail = (reason: string): never => {
    throw new DrError('STORAGE_URL_INVALID', `storage URL ${shown}: ${reason}`, { url: shown });
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail(
      'not a URL (expected file:///abs/dir, s3://bucket/prefix?endpoint=... or azblob://container/prefix?account=...)',
    );
  }
  if (url.username || url.password) {
    fail(
      url.protocol === 'azblob:'
        ? 'credentials must not be in the URL; use the Azure environment (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Azure identity)'
        : 'credentials must not be in the URL; use the AWS environment or profile chain',
    );
  }
  switch (url.protocol) {
    case 'file:':
      return parseFile(raw, url, shown, fail);
    case 's3:':
      return parseS3(raw, url, shown, fail);
    case 'azblob:':
      return parseAzblob(raw, url, shown, fail);
    default:
      return fail(`unknown scheme "${url.protocol.replace(/:$/, '')}" (supported: file, s3, azblob)`);
  }
}

function parseFile(raw: string, url: URL, shown: string, fail: (r: string) => never): FileStorageUrl {
  // WHATWG URL turns file:rel/dir into file:///rel/dir, so the absolute form is checked on the raw text.
  if (!/^file:\/\/\//i.test(raw)) {
    fail(
      url.host
        ? `host "${url.host}" not allowed: use file:///abs/dir`
        : 'path must be absolute: file:///abs/dir',
    );
  }
  if (url.search)
    fail(`unknown parameter "${[...url.searchParams.keys()][0] ?? url.search}" (file URLs take none)`);
  if (url.hash) fail('fragment (#...) not allowed');
  const dir = path.resolve(fileURLToPath(url));
  if (dir === path.parse(dir).root) fail('path must name a directory below the file system root');
  return { scheme: 'file', dir, redacted: shown };
}

function parseS3(raw: string, url: URL, shown: string, fail: (r: string) => never): S3StorageUrl {
  const bucket = url.hostname;
  if (!bucket) fail('missing bucket: s3://bucket/prefix');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/.test(bucket)) {
    fail(`bucket "${bucket}" is not a valid bucket name (3-63 letters, digits, '.', '-', '_')`);
  }
  if (url.port) fail(`bucket "${bucket}" must not have a port; put the endpoint in ?endpoint=`);
  if (url.hash) fail('fragment (#...) not allowed');
  const prefix = prefixOf(raw, fail);

  for (const key of url.searchParams.keys()) {
    if (!(S3_PARAMS as readonly string[]).includes(key)) {
      fail(`unknown parameter "${key}" (allowed: ${S3_PARAMS.join(', ')})`);
    }
  }
  const q = url.searchParams;
  const one = (name: string): string | undefined => {
    const all = q.getAll(name);
    if (all.length > 1) fail(`parameter "${name}" given ${all.length} times`);
    return all[0];
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = one(name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v)) fail(`parameter "${name}" must be a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) fail(`parameter "${name}" must be between ${min} and ${max}, got ${n}`);
    return n;
  };

  let endpoint: string | undefined;
  const rawEndpoint = one('endpoint');
  if (rawEndpoint !== undefined) {
    let ep: URL | undefined;
    try {
      ep = new URL(rawEndpoint);
    } catch {
      ep = undefined;
    }
    if (!ep || (ep.protocol !== 'http:' && ep.protocol !== 'https:') || !ep.hostname) {
      fail(
        `parameter "endpoint" must be an http(s) URL like http://host:port, got "${redactUrl(rawEndpoint)}"`,
      );
    }
    if (ep.username || ep.password) fail('parameter "endpoint" must not carry credentials');
    if (ep.pathname !== '/' || ep.search || ep.hash) {
      fail(`parameter "endpoint" must have no path or query, got "${redactUrl(rawEndpoint)}"`);
    }
    endpoint = ep.origin;
  }

  const region = one('region');
  if (region !== undefined && !/^[a-z0-9-]{1,64}$/.test(region)) {
    fail(`parameter "region" must look like us-east-1, got "${region}"`);
  }

  const fps = one('forcePathStyle');
  if (fps !== undefined && fps !== 'true' && fps !== 'false') {
    fail(`parameter "forcePathStyle" must be true or false, got "${fps}"`);
  }

  const rawChecksum = one('checksum');
  let checksum: S3Checksum | null = endpoint === undefined ? 'SHA256' : null;
  if (rawChecksum !== undefined) {
    const c = rawChecksum.toLowerCase();
    if (c === 'crc32c') checksum = 'CRC32C';
    else if (c === 'sha256') checksum = 'SHA256';
    else if (c === 'off') checksum = null;
    else fail(`parameter "checksum" must be crc32c, sha256 or off, got "${rawChecksum}"`);
  }

  const cw = one('conditionalWrites');
  if (cw !== undefined && cw !== 'true' && cw !== 'false') {
    fail(`parameter "conditionalWrites" must be true or false, got "${cw}"`);
  }

  const partSizeMiB = int('partSizeMiB', DEFAULT_PART_SIZE_MIB, 0, MAX_PART_SIZE_MIB);
  if (partSizeMiB < MIN_PART_SIZE_MIB) {
    fail(`parameter "partSizeMiB" must be at least ${MIN_PART_SIZE_MIB}, got ${partSizeMiB}`);
  }

  return {
    scheme: 's3',
    bucket,
    prefix,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    forcePathStyle: fps === 'true',
    maxAttempts: int('maxAttempts', 3, 1, 20),
    partSizeMiB,
    queueSize: int('queueSize', 2, 1, 64),
    connectTimeoutMs: int('connectTimeoutMs', 10_000, 1, 600_000),
    socketTimeoutMs: int('socketTimeoutMs', 60_000, 1, 3_600_000),
    requestTimeoutMs: int('requestTimeoutMs', 300_000, 1, 3_600_000),
    checksum,
    conditionalWrites: cw === undefined ? endpoint === undefined : cw === 'true',
    redacted: shown,
  };
}

function parseAzblob(raw: string, url: URL, shown: string, fail: (r: string) => never): AzblobStorageUrl {
  const container = url.hostname;
  if (!container) fail('missing container: azblob://container/prefix?account=NAME');
  // Azure's rule: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.
  if (!/^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$/.test(container)) {
    fail(
      `container "${container}" is not a valid container name (3-63 lowercase letters, digits, single '-')`,
    );
  }
  if (url.port) fail(`container "${container}" must not have a port; put the endpoint in ?endpoint=`);
  if (url.hash) fail('fragment (#...) not allowed');
  const prefix = prefixOf(raw, fail);

  for (const key of url.searchParams.keys()) {
    if (SAS_PARAMS.has(key.toLowerCase())) {
      fail(
        `parameter "${key}" looks like a shared access signature: credentials must not be in the URL; set AZURE_STORAGE_SAS_TOKEN`,
      );
    }
    if (!(AZBLOB_PARAMS as readonly string[]).includes(key)) {
      fail(`unknown parameter "${key}" (allowed: ${AZBLOB_PARAMS.join(', ')})`);
    }
  }
  const q = url.searchParams;
  const one = (name: string): string | undefined => {
    const all = q.getAll(name);
    if (all.length > 1) fail(`parameter "${name}" given ${all.length} times`);
    return all[0];
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = one(name);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v)) fail(`parameter "${name}" must be a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) fail(`parameter "${name}" must be between ${min} and ${max}, got ${n}`);
    return n;
  };

  const account = one('account');
  if (account === undefined) fail('missing parameter "account": azblob://container/prefix?account=NAME');
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    fail(`parameter "account" must be 3-24 lowercase letters and digits, got "${account}"`);
  }

  let endpoint: string | undefined;
  const rawEndpoint = one('endpoint');
  if (rawEndpoint !== undefined) {
    let ep: URL | undefined;
    try {
      ep = new URL(rawEndpoint);
    } catch {
      ep = undefined;
    }
    if (!ep || (ep.protocol !== 'http:' && ep.protocol !== 'https:') || !ep.hostname) {
      fail(
        `parameter "endpoint" must be an http(s) URL like https://NAME.blob.core.windows.net, got "${redactUrl(rawEndpoint)}"`,
      );
    }
    if (ep.username || ep.password) fail('parameter "endpoint" must not carry credentials');
    if (ep.search || ep.hash) {
      fail(
        `parameter "endpoint" must have no query (a SAS token goes in AZURE_STORAGE_SAS_TOKEN), got "${redactUrl(rawEndpoint)}"`,
      );
    }
    // Path-style endpoints (Azurite, some sovereign or private endpoints) name the account in the path.
    endpoint = (ep.origin + ep.pathname).replace(/\/+$/, '');
  }

  return {
    scheme: 'azblob',
    account,
    container,
    prefix,
    ...(endpoint !== undefined ? { endpoint } : {}),
    maxAttempts: int('maxAttempts', 3, 1, 20),
    blockSizeMiB: int('blockSizeMiB', DEFAULT_BLOCK_SIZE_MIB, 1, MAX_BLOCK_SIZE_MIB),
    queueSize: int('queueSize', 2, 1, 64),
    connectTimeoutMs: int('connectTimeoutMs', 10_000, 1, 600_000),
    socketTimeoutMs: int('socketTimeoutMs', 60_000, 1, 3_600_000),
    requestTimeoutMs: int('requestTimeoutMs', 300_000, 1, 3_600_000),
    redacted: shown,
  };
}

/**
 * The key prefix of an s3:// or azblob:// URL, ending in '/' (or empty). Read from the raw text, because
 * URL parsing has already resolved '..' and '.' segments away; such segments, and empty ones, are refused.
 */
function prefixOf(raw: string, fail: (msg: string) => never): string {
  const rawPath =
    raw
      .slice(raw.indexOf('://') + 3)
      .replace(/^[^/?#]*/, '')
      .split(/[?#]/)[0] ?? '';
  let prefix: string;
  try {
    prefix = decodeURIComponent(rawPath).replace(/^\/+/, '');
  } catch {
    return fail(`prefix "${rawPath}" has a malformed %-escape`);
  }
  if (
    prefix.split('/').some((seg, i, all) => (seg === '' && i < all.length - 1) || seg === '.' || seg === '..')
  ) {
    fail(`prefix "${prefix}" has an empty, '.' or '..' segment`);
  }
  return prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix;
}
