/**
 * The members file: the description of the cluster a restore builds. YAML, validated with zod; the schema
 * is exported so the daemon's config can embed the same block under `restore:`. Pure (text in, members
 * out): reading the file is `load-members-file.ts`, so the restore planner can use these types without
 * reaching the file system.
 *
 * ```yaml
 * initialClusterToken: prod-restore-1      # optional; default dr-<backup id>-<random>
 * binaries: { etcd: /usr/bin/etcd, etcdctl: /usr/bin/etcdctl, etcdutl: /usr/local/bin/etcdutl }
 * clientTls: { caFile: ca.pem, certFile: client.pem, keyFile: client-key.pem }  # how dr talks to the members
 * timing: { heartbeatInterval: 100, electionTimeout: 1000 }   # ms, etcd's defaults; every member gets them
 * oldCluster: { endpoints: [https://10.0.0.1:2379] }   # where to look for a still-healthy old cluster
 * members:
 *   - name: etcd-a
 *     peerURLs: [https://10.0.0.1:2380]
 *     clientURLs: [https://10.0.0.1:2379]
 *     dataDir: /var/lib/etcd
 *     walDir: /var/lib/etcd-wal           # optional
 *     tls: { caFile: ..., certFile: ..., keyFile: ..., clientCertAuth: true }   # the member's client URL
 *     peerTls: { caFile: ..., certFile: ..., keyFile: ..., clientCertAuth: true }   # its peer URL (https)
 *     owner: etcd:etcd                     # optional; default: the owner of the data dir it replaces
 *     control: { type: systemd, unit: etcd.service, ssh: "ssh -i /root/.ssh/dr root@10.0.0.1" }
 * ```
 */
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { positionOf } from './yaml-positions.js';
import { DrError } from '../core/errors.js';

// etcd rejects URLs with a path, query or fragment; IDs hash the URL text, so it must be canonical too.
const URL_RE = /^(http|https):\/\/[^/?#\s]+:\d{1,5}$/;
const urlString = z
  .string()
  .regex(URL_RE, 'must look like http(s)://host:port (lower-case scheme, explicit port, no path)');

const absPath = z
  .string()
  .min(1)
  .refine((p) => path.isAbsolute(p), 'must be an absolute path');

const tlsSchema = z.strictObject({
  caFile: absPath.describe('CA file (--trusted-ca-file / --peer-trusted-ca-file) on the member host'),
  certFile: absPath.describe('certificate (--cert-file / --peer-cert-file) on the member host'),
  keyFile: absPath.describe('private key (--key-file / --peer-key-file) on the member host'),
  /** --client-cert-auth (tls) / --peer-client-cert-auth (peerTls); dr then needs clientTls with a cert */
  clientCertAuth: z
    .boolean()
    .default(false)
    .describe('--client-cert-auth / --peer-client-cert-auth; dr then presents clientTls'),
});

const controlSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('local') }),
    z.strictObject({
      type: z.literal('systemd'),
      unit: z.string().regex(/^[\w@.:-]+$/, 'must be a systemd unit name'),
      /** command prefix that runs a command on the member's host, e.g. "ssh -i key root@host" */
      ssh: z.string().min(1).optional(),
    }),
    z.strictObject({ type: z.literal('manual') }),
    z.strictObject({
      type: z.literal('static-pod'),
      /** the kubelet's static pod manifest of this member's etcd (kubeadm: /etc/kubernetes/manifests/etcd.yaml) */
      manifest: absPath,
      /** where the manifest waits while the member is stopped (default <manifest dir>/../etcd-dr-stopped) */
      stoppedDir: absPath.optional(),
      /**
       * the CRI command that lists the node's containers (default `crictl`, as kubeadm nodes have it); dr asks
       * it whether the etcd container exited after the start, and for its exit code and log
       */
      crictl: z.string().min(1).optional(),
      /** command prefix that runs a command on the member's host, e.g. "ssh -i key root@host" */
      ssh: z.string().min(1).optional(),
    }),
  ])
  .describe(
    'how dr stops and starts the member: { type: local } (dr runs etcd), { type: systemd, unit, ssh? } (systemctl, optionally through an ssh command prefix), { type: manual } (dr prints the commands and waits), { type: static-pod, manifest, stoppedDir?, crictl?, ssh? } (kubeadm: the static pod manifest is moved out of the kubelet folder and back; crictl reports a container that exits)',
  );

export const memberSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only')
    .describe('member name (etcd --name)'),
  peerURLs: z.array(urlString).min(1).describe('etcd --initial-advertise-peer-urls (http(s)://host:port)'),
  clientURLs: z.array(urlString).min(1).describe('etcd --advertise-client-urls (http(s)://host:port)'),
  dataDir: absPath.describe('etcd --data-dir on the member host'),
  walDir: absPath.optional().describe('etcd --wal-dir, when the WAL lives apart from the data dir'),
  tls: tlsSchema.optional().describe("the client URL's TLS (required for https client URLs)"),
  /** the peer URL's TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth) */
  peerTls: tlsSchema.optional().describe("the peer URL's TLS (required for https peer URLs)"),
  /** user[:group] the restored data dir is given (default: the owner and group of the dir it replaces) */
  owner: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$/, 'must be user or user:group')
    .optional()
    .describe('user[:group] the restored data dir is given (default: the owner of the dir it replaces)'),
  control: controlSchema,
});

/** The members file's fields without the checks between members (the config embeds it, see refineMembers). */
export const membersFileFields = z.strictObject({
  initialClusterToken: z
    .string()
    .min(1)
    .optional()
    .describe('--initial-cluster-token of the new cluster (default: dr-<backup id>-<random>)'),
  binaries: z
    .strictObject({
      etcd: z.string().min(1).optional().describe('etcd binary (local members)'),
      etcdctl: z.string().min(1).optional().describe('etcdctl binary'),
      etcdutl: z.string().min(1).optional().describe('etcdutl binary (the restore tool from 3.5)'),
    })
    .default({})
    .describe('where the etcd binaries are on the member hosts (default: found on PATH)'),
  clientTls: z
    .strictObject({
      caFile: absPath.describe("CA that signed the members' client URL certificates"),
      certFile: absPath.optional().describe("dr's client certificate"),
      keyFile: absPath.optional().describe("dr's client key"),
    })
    .optional()
    .describe("how dr talks to the restored members (in a config: default the cluster's tls)"),
  oldCluster: z
    .strictObject({
      endpoints: z.array(urlString).min(1).describe('client URLs (http(s)://host:port)'),
    })
    .optional()
    .describe(
      "where to look for a still-healthy old cluster (default: the members' client URLs; in a config: the cluster's endpoints)",
    ),
  /** etcd's raft timings in ms for every restored member (etcd's defaults: 100 and 1000) */
  timing: z
    .strictObject({
      heartbeatInterval: z
        .number()
        .int()
        .min(1)
        .max(60_000)
        .default(100)
        .describe('etcd --heartbeat-interval in ms'),
      electionTimeout: z
        .number()
        .int()
        .min(1)
        .max(600_000)
        .default(1000)
        .describe('etcd --election-timeout in ms'),
    })
    .default({ heartbeatInterval: 100, electionTimeout: 1000 })
    .refine((t) => t.electionTimeout >= 5 * t.heartbeatInterval, {
      message: 'electionTimeout must be at least 5 times heartbeatInterval (etcd refuses to start otherwise)',
    })
    .describe("etcd's raft timings in ms for every restored member (etcd's defaults: 100 and 1000)"),
  members: z.array(memberSchema).min(1).describe('the members of the restored cluster'),
});

export const membersFileSchema = membersFileFields.superRefine((file, ctx) => refineMembers(file, ctx));

/**
 * The checks between members (unique names, URLs and dirs; TLS blocks matching the URL schemes; clientTls
 * for members that check client certificates). Shared by the members file and the daemon config's
 * shorthand `clusters[].members`, so both refuse the same things. Paths are relative to `file`.
 */
export function refineMembers(
  file: {
    members: z.output<typeof memberSchema>[];
    clientTls?: { certFile?: string; keyFile?: string } | undefined;
  },
  ctx: z.RefinementCtx,
  /** where `file` is in the document validated (the config: ['restore'] under a cluster) */
  base: (string | number)[] = [],
): void {
  const seen = new Map<string, string>();
  const claim = (kind: string, value: string, at: (string | number)[], scope = '') => {
    const k = `${kind}:${scope}:${value}`;
    const prev = seen.get(k);
    if (prev !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [...base, ...at],
        message: `${kind} ${value} is also used by member "${prev}"`,
      });
    } else seen.set(k, String(file.members[at[1] as number]?.name));
  };
  file.members.forEach((m, i) => {
    claim('name', m.name, ['members', i, 'name']);
    m.peerURLs.forEach((u, j) => claim('peer URL', u, ['members', i, 'peerURLs', j]));
    m.clientURLs.forEach((u, j) => claim('client URL', u, ['members', i, 'clientURLs', j]));
    // directories are per host: members on their own hosts (over ssh, or manual) may share a path
    const host =
      m.control.type === 'local'
        ? 'local'
        : m.control.type === 'systemd' || m.control.type === 'static-pod'
          ? `ssh:${m.control.ssh ?? ''}`
          : `manual:${m.name}`;
    claim('directory', m.dataDir, ['members', i, 'dataDir'], host);
    if (m.walDir) claim('directory', m.walDir, ['members', i, 'walDir'], host);
    const scheme = m.clientURLs.map((u) => u.startsWith('https:'));
    if (scheme.some((s) => s !== !!m.tls)) {
      ctx.addIssue({
        code: 'custom',
        path: [...base, 'members', i, 'tls'],
        message: m.tls ? 'tls is set but a client URL is not https' : 'https client URL needs tls',
      });
    }
    const peerScheme = m.peerURLs.map((u) => u.startsWith('https:'));
    if (peerScheme.some((s) => s !== !!m.peerTls)) {
      ctx.addIssue({
        code: 'custom',
        path: [...base, 'members', i, 'peerTls'],
        message: m.peerTls
          ? 'peerTls is set but a peer URL is not https'
          : 'https peer URL needs peerTls (the peer certificate, key and CA)',
      });
    }
    if (m.tls?.clientCertAuth && !(file.clientTls?.certFile && file.clientTls.keyFile)) {
      ctx.addIssue({
        code: 'custom',
        path: [...base, 'members', i, 'tls', 'clientCertAuth'],
        message:
          "the member requires client certificates: set clientTls.certFile and clientTls.keyFile (dr never presents a member's server certificate as its client certificate)",
      });
    }
  });
}

export type MembersFile = z.output<typeof membersFileSchema>;
export type TargetMember = MembersFile['members'][number];
export type MemberControlSpec = TargetMember['control'];
export type MemberTls = NonNullable<TargetMember['tls']>;
export type EtcdTiming = MembersFile['timing'];

type Locate = (path: (string | number)[], atKey: boolean) => { line: number; column: number };

/**
 * Validates an already-parsed document (e.g. the `restore:` block of the daemon config). With `locate`
 * (the YAML it came from), every problem starts with source:line:column.
 */
export function parseMembers(doc: unknown, source = 'members file', locate?: Locate): MembersFile {
  const res = membersFileSchema.safeParse(doc);
  if (res.success) return res.data;
  const errors: { line?: number; column?: number; path: string; message: string }[] = [];
  const problems: string[] = [];
  for (const issue of res.error.issues) {
    const segs = issue.path.filter((x): x is string | number => typeof x !== 'symbol');
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    for (const key of keys) {
      const at = key === undefined ? segs : [...segs, key];
      const message = key === undefined ? issue.message : `unknown field "${key}"`;
      const text = describeMemberIssue(doc, at, message);
      const pos = locate?.(at, key !== undefined);
      problems.push(pos ? `${source}:${pos.line}:${pos.column}: ${text}` : text);
      errors.push({ ...pos, path: formatPath(at), message });
    }
  }
  const message = !locate
    ? `${source}: ${problems.join('; ')}`
    : problems.length === 1
      ? problems[0]!
      : `${problems.length} errors in ${source}:\n  ${problems.join('\n  ')}`;
  throw new DrError('CONFIG_INVALID', message, {
    source,
    problems,
    errors,
  });
}

export function parseMembersYaml(text: string, source = 'members file'): MembersFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const p = lines.linePos(e.pos[0]);
    throw new DrError(
      'CONFIG_INVALID',
      `${source}:${p.line}:${p.col}: not valid YAML: ${e.message.split('\n')[0]}`,
      { source },
    );
  }
  return parseMembers(doc.toJS({ maxAliasCount: 100 }), source, (at, atKey) =>
    positionOf(doc, lines, at, atKey),
  );
}

/** "member "etcd-b" (members[1]) field peerURLs[0]: must look like ..." */
function describeMemberIssue(doc: unknown, p: readonly PropertyKey[], message: string): string {
  const parts = p.map((x) => (typeof x === 'symbol' ? String(x) : x));
  if (parts[0] === 'members' && typeof parts[1] === 'number') {
    const raw = (doc as { members?: { name?: unknown }[] })?.members?.[parts[1]];
    const name = typeof raw?.name === 'string' && raw.name ? `"${raw.name}" ` : '';
    const field = formatPath(parts.slice(2));
    return `member ${name}(members[${parts[1]}])${field ? ` field ${field}` : ''}: ${message}`;
  }
  const field = formatPath(parts);
  return field ? `field ${field}: ${message}` : message;
}

function formatPath(parts: (string | number)[]): string {
  return parts.map((x, i) => (typeof x === 'number' ? `[${x}]` : i === 0 ? x : `.${x}`)).join('');
}
