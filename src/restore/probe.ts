/**
 * The few questions a restore asks a running cluster (is it healthy, who leads, is everyone caught up,
 * what do the checks say), behind one small interface so waits and verification can be driven by a fake
 * in unit tests. The real one uses dr's gRPC client (the key count is a count-only Range).
 */
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { createEtcdClient } from '../etcd/client.js';
import type { HashKVResult, Member, MemberStatus } from '../etcd/types.js';
import type { ClientTls } from './client-tls.js';

export interface ClusterProbe {
  /** GET /health on a client URL: true when the member sees a leader and answers */
  health(endpoint: string, signal?: AbortSignal): Promise<boolean>;
  status(endpoint: string): Promise<MemberStatus>;
  memberList(): Promise<Member[]>;
  hashKV(endpoint: string, revision: bigint): Promise<HashKVResult>;
  /** live keys at the member's current revision (RangeResponse.count is the whole range's, whatever the limit) */
  keyCount(endpoint: string, signal?: AbortSignal): Promise<{ count: number; revision: bigint }>;
  close(): void;
}

export function createProbe(opts: {
  endpoints: string[];
  tls?: ClientTls;
  etcdctl?: string;
  /** credentials for a cluster with etcd auth enabled (the key count and HashKV need them) */
  auth?: { user: string; password: string };
}): ClusterProbe {
  const client = createEtcdClient({
    endpoints: opts.endpoints,
    ...opts.tls,
    ...opts.auth,
    dialTimeoutMs: 2000,
    requestTimeoutMs: 5000,
    // the members were just started: see each one as soon as it listens (the wait is part of the RTO)
    reconnectBackoffMs: 100,
  });
  return {
    health: (endpoint, signal) => healthProbe(endpoint, opts.tls, signal),
    status: (endpoint) => client.status(endpoint),
    memberList: () => client.memberList(),
    hashKV: (endpoint, revision) => client.hashKV(endpoint, revision),
    keyCount: (endpoint) => client.countKeys(endpoint),
    close: () => client.close(),
  };
}

/**
 * What one old-cluster endpoint said: healthy; answered but not healthy; down (nothing listens: connection
 * refused, no route); or unverifiable: something answers but dr could not find out (TLS, authentication,
 * a timeout, an answer that is not etcd's /health). Only `down` and `unhealthy` let a restore go on.
 */
export type HealthAnswer =
  { state: 'healthy' | 'unhealthy' | 'down'; detail: string } | { state: 'unverifiable'; detail: string };

const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

export async function probeHealth(
  endpoint: string,
  tls?: ClientTls,
  signal?: AbortSignal,
): Promise<HealthAnswer> {
  try {
    return (await healthProbe(endpoint, tls, signal, true))
      ? { state: 'healthy', detail: 'health: true' }
      : { state: 'unhealthy', detail: 'answered, health not true' };
  } catch (err) {
    signal?.throwIfAborted();
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = e.code ?? e.cause?.code;
    const msg = e.cause?.message ?? e.message;
    if (code && DOWN_CODES.has(code)) return { state: 'down', detail: `${code}` };
    return { state: 'unverifiable', detail: `${code ? `${code}: ` : ''}${msg}` };
  }
}

export async function healthProbe(
  endpoint: string,
  tls?: ClientTls,
  signal?: AbortSignal,
  /** throw when the answer is not etcd's /health (401, 403, not JSON) instead of saying false */
  strict = false,
): Promise<boolean> {
  const url = new URL('/health', endpoint);
  // one controller for "the caller cancelled" and "3 s passed", released when done (AbortSignal.any on
  // Node 20 keeps a listener on the caller's signal for good: a restore piled up a dozen of them)
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('no answer within 3000 ms')), 3000);
  const onAbort = () => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await healthOf(url, ac.signal, tls, strict);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function healthOf(
  url: URL,
  sig: AbortSignal,
  tls: ClientTls | undefined,
  strict: boolean,
): Promise<boolean> {
  let body: string;
  let status = 0;
  if (url.protocol === 'https:') {
    body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          ca: tls?.caFile ? readFileSync(tls.caFile) : undefined,
          cert: tls?.certFile ? readFileSync(tls.certFile) : undefined,
          key: tls?.keyFile ? readFileSync(tls.keyFile) : undefined,
          signal: sig,
        },
        (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => {
            status = res.statusCode ?? 0;
            resolve(b);
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  } else {
    const res = await fetch(url, { signal: sig });
    status = res.status;
    body = await res.text();
  }
  let health: string | undefined;
  try {
    health = (JSON.parse(body) as { health?: string }).health;
  } catch {
    health = undefined;
  }
  // etcd answers 503 with {"health":"false"} when it has no leader: an answer, not a refusal
  if (strict && (typeof health !== 'string' || (status !== 200 && status !== 503))) {
    throw new Error(
      `HTTP ${status} from ${url.href}: not etcd's health answer (${body.slice(0, 120).trim()})`,
    );
  }
  return status === 200 && health === 'true';
}
