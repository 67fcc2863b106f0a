/**
 * Endpoint strings as users write them (etcdctl style) and the gRPC target each one dials.
 */
import { DrError } from '../core/errors.js';
import { redactUrl } from '../core/redact.js';

export interface ParsedEndpoint {
  /** the endpoint as the user gave it, credentials stripped: used in every message */
  display: string;
  /** host:port for gRPC, or `unix:/path` for a Unix socket */
  address: string;
  secure: boolean;
  /** set for unix:// and unixs:// endpoints: the socket's absolute path */
  socketPath?: string;
}

/**
 * "127.0.0.1:2379", "http://h:2379", "https://h:2379". Without a scheme the endpoint is TLS when TLS files
 * were configured, as etcdctl does. "unix:///abs/path" and "unixs:///abs/path" name a Unix socket (plain
 * and TLS); the path must be absolute (etcd itself names its socket `host:port` in its working directory:
 * the replay member's, docs/revision-log.md §9).
 */
export function parseEndpoint(raw: string, tlsConfigured: boolean): ParsedEndpoint {
  const trimmed = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
    ? trimmed
    : `${tlsConfigured ? 'https' : 'http'}://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new DrError('USAGE', `etcd: endpoint "${redactUrl(raw)}" is not host:port or a URL`);
  }
  if (url.protocol === 'unix:' || url.protocol === 'unixs:') {
    let socketPath: string;
    try {
      socketPath = decodeURIComponent(url.pathname);
    } catch {
      throw new DrError('USAGE', `etcd: endpoint "${redactUrl(raw)}" is not a valid URL path`);
    }
    if (url.host !== '' || !socketPath.startsWith('/'))
      throw new DrError('USAGE', `etcd: endpoint "${redactUrl(raw)}" must be unix:///absolute/path`);
    return { display: trimmed, address: `unix:${socketPath}`, secure: url.protocol === 'unixs:', socketPath };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DrError('USAGE', `etcd: endpoint "${redactUrl(raw)}" must use http:// or https://`);
  }
  if (!url.hostname) throw new DrError('USAGE', `etcd: endpoint "${redactUrl(raw)}" has no host`);
  const port = url.port || '2379';
  return {
    // kept as written (URL.toString would add a slash) unless it carries credentials
    display: trimmed.includes('@') ? redactUrl(trimmed) : trimmed,
    address: `${url.hostname}:${port}`,
    secure: url.protocol === 'https:',
  };
}
