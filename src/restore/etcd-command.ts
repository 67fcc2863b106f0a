/**
 * The exact etcd command line of a restored member: what `local` control runs, what `manual` control and
 * the plan print, flag for flag. Client TLS (`tls:`), peer TLS (`peerTls:`) and the raft timings
 * (`timing:`, etcd's defaults unless the members file says otherwise) are all in it.
 */
import type { EtcdTiming, TargetMember } from '../config/members-file.js';

export interface EtcdCommandContext {
  token: string;
  initialCluster: string;
  timing: EtcdTiming;
  /** @default 'etcd' */
  etcdBinary?: string;
}

/** Where `local` control writes a member's output: next to its data dir, not inside. */
export function localLogFile(m: TargetMember): string {
  return `${m.dataDir}.log`;
}

export function memberEtcdArgv(m: TargetMember, c: EtcdCommandContext): string[] {
  const argv = [
    c.etcdBinary ?? 'etcd',
    '--name',
    m.name,
    '--data-dir',
    m.dataDir,
    ...(m.walDir ? ['--wal-dir', m.walDir] : []),
    '--listen-client-urls',
    m.clientURLs.join(','),
    '--advertise-client-urls',
    m.clientURLs.join(','),
    '--listen-peer-urls',
    m.peerURLs.join(','),
    '--initial-advertise-peer-urls',
    m.peerURLs.join(','),
    '--initial-cluster',
    c.initialCluster,
    '--initial-cluster-token',
    c.token,
    '--initial-cluster-state',
    'new',
    '--heartbeat-interval',
    String(c.timing.heartbeatInterval),
    '--election-timeout',
    String(c.timing.electionTimeout),
  ];
  if (m.tls) {
    argv.push('--cert-file', m.tls.certFile, '--key-file', m.tls.keyFile, '--trusted-ca-file', m.tls.caFile);
    if (m.tls.clientCertAuth) argv.push('--client-cert-auth');
  }
  if (m.peerTls) {
    argv.push(
      '--peer-cert-file',
      m.peerTls.certFile,
      '--peer-key-file',
      m.peerTls.keyFile,
      '--peer-trusted-ca-file',
      m.peerTls.caFile,
    );
    if (m.peerTls.clientCertAuth) argv.push('--peer-client-cert-auth');
  }
  return argv;
}
