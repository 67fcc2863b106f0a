/**
 * The members file: the description of the cluster a restore builds. YAML, validated with zod; the schema
 * is exported so the daemon's config can embed the same block under `restore:`.
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
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DrError } from '../core/errors.js';

// etcd rejects URLs with a path, query or fragment; IDs hash the URL text, so it must be canonical too.
const URL_RE = /^(http|https):\/\/[^/?#\s]+:\d{1,5}$/;
const urlString = z
  .string()
  .regex(URL_RE, 'must look like http(s)://host:port (lower-case scheme, explicit port, no path)');

const absPath = z.string().min(1).refine(path.isAbsolute, 'must be an absolute path');

const tlsSchema = z.strictObject({
  caFile: absPath,
  certFile: absPath,
  keyFile: absPath,
  /** --client-cert-auth (tls) / --peer-client-cert-auth (peerTls); dr then needs clientTls with a cert */
  clientCertAuth: z.boolean().default(false),
});

const controlSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('local') }),
  z.strictObject({
    type: z.literal('systemd'),
    unit: z.string().regex(/^[\w@.:-]+$/, 'must be a systemd unit name'),
    /** command prefix that runs a command on the member's host, e.g. "ssh -i key root@host" */
    ssh: z.string().min(1).optional(),
  }),
  z.strictObject({ type: z.literal('manual') }),
]);

export const memberSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only'),
  peerURLs: z.array(urlString).min(1),
  clientURLs: z.array(urlString).min(1),
  dataDir: absPath,
  walDir: absPath.optional(),
  tls: tlsSchema.optional(),
  /** the peer URL's TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth) */
  peerTls: tlsSchema.optional(),
  /** user[:group] the restored data dir is given (default: the owner and group of the dir it replaces) */
  owner: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9._-]*(:[A-Za-z0-9_][A-Za-z0-9._-]*)?$/, 'must be user or user:group')
    .optional(),
  control: controlSchema,
});

export const membersFileSchema = z
  .strictObject({
    initialClusterToken: z.string().min(1).optional(),
    binaries: z
      .strictObject({
        etcd: z.string().min(1).optional(),
        etcdctl: z.string().min(1).optional(),
        etcdutl: z.string().min(1).optional(),
      })
      .default({}),
    clientTls: z
      .strictObject({ caFile: absPath, certFile: absPath.optional(), keyFile: absPath.optional() })
      .optional(),
    oldCluster: z.strictObject({ endpoints: z.array(urlString).min(1) }).optional(),
    /** etcd's raft timings in ms for every restored member (etcd's defaults: 100 and 1000) */
    timing: z
      .strictObject({
        heartbeatInterval: z.number().int().min(1).max(60_000).default(100),
        electionTimeout: z.number().int().min(1).max(600_000).default(1000),
      })
      .default({ heartbeatInterval: 100, electionTimeout: 1000 })
      .refine((t) => t.electionTimeout >= 5 * t.heartbeatInterval, {
        message:
          'electionTimeout must be at least 5 times heartbeatInterval (etcd refuses to start otherwise)',
      }),
    members: z.array(memberSchema).min(1),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    const claim = (kind: string, value: string, at: (string | number)[]) => {
      const k = `${kind}:${value}`;
      const prev = seen.get(k);
      if (prev !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: at,
          message: `${kind} ${value} is also used by member "${prev}"`,
        });
      } else seen.set(k, String(file.members[at[1] as number]?.name));
    };
    file.members.forEach((m, i) => {
      claim('name', m.name, ['members', i, 'name']);
      m.peerURLs.forEach((u, j) => claim('peer URL', u, ['members', i, 'peerURLs', j]));
      m.clientURLs.forEach((u, j) => claim('client URL', u, ['members', i, 'clientURLs', j]));
      claim('directory', m.dataDir, ['members', i, 'dataDir']);
      if (m.walDir) claim('directory', m.walDir, ['members', i, 'walDir']);
      const scheme = m.clientURLs.map((u) => u.startsWith('https:'));
      if (scheme.some((s) => s !== !!m.tls)) {
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'tls'],
          message: m.tls ? 'tls is set but a client URL is not https' : 'https client URL needs tls',
        });
      }
      const peerScheme = m.peerURLs.map((u) => u.startsWith('https:'));
      if (peerScheme.some((s) => s !== !!m.peerTls)) {
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'peerTls'],
          message: m.peerTls
            ? 'peerTls is set but a peer URL is not https'
            : 'https peer URL needs peerTls (the peer certificate, key and CA)',
        });
      }
      if (m.tls?.clientCertAuth && !(file.clientTls?.certFile && file.clientTls.keyFile)) {
        ctx.addIssue({
          code: 'custom',
          path: ['members', i, 'tls', 'clientCertAuth'],
          message:
            "the member requires client certificates: set clientTls.certFile and clientTls.keyFile (dr never presents a member's server certificate as its client certificate)",
        });
      }
    });
  });

export type MembersFile = z.output<typeof membersFileSchema>;
export type TargetMember = MembersFile['members'][number];
export type MemberControlSpec = TargetMember['control'];
export type MemberTls = NonNullable<TargetMember['tls']>;
export type EtcdTiming = MembersFile['timing'];

/** Validates an already-parsed document (e.g. the `restore:` block of the daemon config). */
export function parseMembers(doc: unknown, source = 'members file'): MembersFile {
  const res = membersFileSchema.safeParse(doc);
  if (res.success) return res.data;
  const problems = res.error.issues.map((issue) => describeIssue(doc, issue.path, issue.message));
  throw new DrError('CONFIG_INVALID', `${source}: ${problems.join('; ')}`, { source, problems });
}

export function parseMembersYaml(text: string, source = 'members file'): MembersFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new DrError('CONFIG_INVALID', `${source}: not valid YAML: ${(err as Error).message}`, { source });
  }
  return parseMembers(doc, source);
}

export async function loadMembersFile(file: string): Promise<MembersFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DrError('CONFIG_INVALID', `members file ${file}: cannot be read: ${(err as Error).message}`, {
      source: file,
    });
  }
  return parseMembersYaml(text, file);
}

/** "member "etcd-b" (members[1]) field peerURLs[0]: must look like ..." */
function describeIssue(doc: unknown, p: readonly PropertyKey[], message: string): string {
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
