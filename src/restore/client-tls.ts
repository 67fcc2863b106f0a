/**
 * The TLS files dr presents to a restored cluster's members, chosen from the members file. Pure and apart
 * from probe.ts (which dials the members), so that the planner can show the checks it will run without
 * reaching the etcd client.
 */
import type { MembersFile } from '../config/members-file.js';

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
