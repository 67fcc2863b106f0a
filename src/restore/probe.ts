/**
 * The few questions a restore asks a running cluster (is it healthy, who leads, is everyone caught up,
 * what do the checks say), behind one small interface so waits and verification can be driven by a fake
 * in unit tests. The real one uses dr's gRPC client (the key count is a count-only Range).
 */
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { createEtcdClient } from '../etcd/client.js';
import type { HashKVResult, Member, MemberStatus } from '../etcd/types.js';
import type { MembersFile } from './members-file.js';

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

export interface ClientTls {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * How dr presents itself to the members: clientTls, else only the CA of the first member's client TLS (a
 * member's server certificate is never presented as a client certificate; a member with clientCertAuth
 * needs clientTls, which the members file enforces).
 */
export function clientTlsFor(target: MembersFile): ClientTls | undefined {
  if (target.clientTls) return target.clientTls;
  const t = target.members.find((m) => m.tls)?.tls;
  return t ? { caFile: t.caFile } : undefined;
}

export function createProbe(opts: { endpoints: string[]; tls?: ClientTls; etcdctl?: string }): ClusterProbe {
  const client = createEtcdClient({
    endpoints: opts.endpoints,
    ...opts.tls,
    dialTimeoutMs: 2000,
    requestTimeoutMs: 5000,
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

export async function healthProbe(endpoint: string, tls?: ClientTls, signal?: AbortSignal): Promise<boolean> {
  const url = new URL('/health', endpoint);
  // one controller for "the caller cancelled" and "3 s passed", released when done (AbortSignal.any on
  // Node 20 keeps a listener on the caller's signal for good: a restore piled up a dozen of them)
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error('no answer within 3000 ms')), 3000);
  const onAbort = () => ac.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await healthOf(url, ac.signal, tls);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

async function healthOf(url: URL, sig: AbortSignal, tls?: ClientTls): Promise<boolean> {
  let body: string;
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
          res.on('end', () => resolve(res.statusCode === 200 ? b : ''));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  } else {
    const res = await fetch(url, { signal: sig });
    body = res.ok ? await res.text() : '';
  }
  try {
    return (JSON.parse(body) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}
