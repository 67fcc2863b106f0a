/**
 * The one schema of dr's configuration file (the daemon's config, also read by `dr config validate`,
 * `dr prune` and `dr restore --config`). Every option carries a description and, where it has one, a
 * default: docs/config-options.md is generated from this file (see docs.ts), so a new option is
 * documented by writing it here.
 *
 * This schema checks each value on its own; references between sections (a policy naming a cluster,
 * unique names, ...) are checked by references.ts, which also runs when this schema fails, so that one
 * validation run reports every error. Secrets are never values in this file: passwords and tokens are
 * named by file or environment variable and resolved by load.ts.
 *
 * Over 400 lines on purpose: the one schema of the file, section by section, each option with its
 * description; splitting it would split the generated reference, not the concepts.
 */
import { z } from 'zod';
import { checkCron, isValidTimezone } from './cron.js';
import { parseDuration } from '../retention/duration.js';
import { DEFAULT_COMPRESSION_LEVEL } from '../pipeline/compression.js';
import { parseRecipient } from '../crypto/age-keys.js';
import { memberSchema as restoreMemberSchema, membersFileFields, refineMembers } from './members-file.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Names end up in storage keys (<cluster>/<id>...) and metric labels, hence the narrow alphabet. */
const name = (what: string) =>
  z
    .string({ error: `${what} name must be a string` })
    .regex(
      NAME,
      `${what} name must be 1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );

const path = (description: string) => z.string().min(1, 'must not be empty').describe(description);

/** Paths on a member's host: relative paths would depend on where dr runs. */
const absolute = (description: string) =>
  z
    .string()
    .refine((v) => v.startsWith('/'), { error: 'must be an absolute path' })
    .describe(description);

function hostPortOk(value: string): boolean {
  const m = HOST_PORT.exec(value);
  return m !== null && Number(m[2]) > 0 && Number(m[2]) <= 65535;
}

const endpoint = z
  .string()
  .refine((v) => hostPortOk(v.replace(/^https?:\/\//, '')), {
    error: 'endpoint must be host:port or http(s)://host:port',
  })
  .describe('etcd client URL: host:port or http(s)://host:port');

export const tlsSchema = z
  .strictObject({
    caFile: path('PEM file of the CA that signed the etcd server certificates (`--cacert`)').optional(),
    certFile: path('PEM client certificate for mTLS (`--cert`); requires keyFile').optional(),
    keyFile: path('PEM private key of certFile (`--key`)').optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.certFile === undefined) !== (v.keyFile === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [v.certFile === undefined ? 'certFile' : 'keyFile'],
        message: 'certFile and keyFile go together',
      });
    }
  })
  .describe('TLS towards the etcd client URLs; relative paths are relative to the config file');

export const authSchema = z
  .strictObject({
    user: z.string().min(1, 'must not be empty').describe('etcd user name'),
    passwordFile: path(
      'file holding the password (a trailing newline is ignored); read at load time',
    ).optional(),
    passwordEnv: z
      .string()
      .regex(ENV_NAME, 'must be an environment variable name')
      .describe('environment variable holding the password; read at load time')
      .optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.passwordFile === undefined) === (v.passwordEnv === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of passwordFile or passwordEnv' });
    }
  })
  .describe('etcd authentication (user and password); the password itself is never written in the config');

/**
 * A cluster's restore target: the members file's schema (src/restore/members-file.ts), one schema for
 * `dr restore --members FILE` and for the config. `members:` directly under a cluster is the short form of
 * `restore: { members: [...] }`; the cluster's endpoints and tls then stand in for oldCluster and clientTls.
 */
export { restoreMemberSchema as memberSchema };

export const clusterSchema = z
  .strictObject({
    name: name('cluster').describe('cluster name: labels metrics and prefixes storage keys'),
    endpoints: z
      .array(endpoint)
      .min(1, 'needs at least one endpoint')
      .describe('etcd client endpoints (`--endpoints`)'),
    tls: tlsSchema.optional(),
    auth: authSchema.optional(),
    dialTimeoutMs: z
      .int()
      .positive()
      .default(5000)
      .describe('how long to wait for a connection to an endpoint'),
    requestTimeoutMs: z
      .int()
      .positive()
      .default(30000)
      .describe(
        'deadline of each unary etcd request (the snapshot stream has none; it is aborted on shutdown)',
      ),
    snapshotFrom: z
      .enum(['follower', 'leader', 'any'])
      .default('follower')
      .describe('which member streams the snapshot; follower spares the leader, falling back to the leader'),
    members: z
      .array(restoreMemberSchema)
      .min(1)
      .optional()
      .describe(
        'restore target, short form of restore.members: the members `dr restore --to new-cluster --config FILE --cluster NAME` rebuilds',
      ),
    restore: membersFileFields
      .optional()
      .describe(
        'restore target in full, exactly as a members file (`dr restore --members FILE`): members, clientTls, oldCluster, binaries, timing, initialClusterToken',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.members && c.restore) {
      ctx.addIssue({
        code: 'custom',
        path: ['members'],
        message: 'give the restore target once: members (short form) or restore.members',
      });
    }
    // dr presents clientTls to the members, by default the cluster's own client certificate
    if (c.members) refineMembers({ members: c.members, clientTls: c.tls }, ctx);
    if (c.restore)
      refineMembers({ members: c.restore.members, clientTls: c.restore.clientTls ?? c.tls }, ctx, [
        'restore',
      ]);
  });

// Credentials belong in the AWS or Azure environment chain: a config file is copied, committed and
// printed far more often than an environment is. (sig is an Azure SAS token's signature.)
const CREDENTIAL_KEY =
  /^(accesskeyid|secretaccesskey|sessiontoken|password|secret|token|aws_access_key_id|aws_secret_access_key|aws_session_token|sig|accountkey|connectionstring|sastoken|azure_storage_key|azure_storage_connection_string|azure_storage_sas_token)$/i;

function carriesCredentials(url: string): boolean {
  try {
    const u = new URL(url);
    return (
      u.username !== '' || u.password !== '' || [...u.searchParams.keys()].some((k) => CREDENTIAL_KEY.test(k))
    );
  } catch {
    return false;
  }
}

export const storageSchema = z.strictObject({
  name: name('storage').describe('storage target name, referenced by policies'),
  url: z
    .string()
    .refine((v) => /^(file|s3|azblob):\/\/./.test(v), {
      error: 'storage url must start with file://, s3:// or azblob://',
    })
    .refine((v) => !carriesCredentials(v), {
      error:
        'storage url must not carry credentials (user:password@ or a secret parameter): use the AWS environment or profile',
    })
    .describe(
      'file:///abs/dir (or file://./rel/dir, relative to the config file), s3://bucket/prefix?endpoint=...&region=...&forcePathStyle=true or azblob://container/prefix?account=NAME; credentials come from the AWS or Azure environment, never from here',
    ),
  options: z
    .record(
      z.string().refine((k) => !CREDENTIAL_KEY.test(k), {
        error: 'credentials do not belong in the config: use the AWS environment or profile',
      }),
      z.union([z.string(), z.number(), z.boolean()]),
    )
    .default({})
    .describe('backend options that override the URL query (region, endpoint, forcePathStyle, ...)'),
});

const keep = (what: string) => z.int().min(-1, 'must be -1 (unlimited), 0 or more').optional().describe(what);

export const retentionSchema = z
  .strictObject({
    keepLast: keep('keep the n newest backups'),
    keepHourly: keep('keep the newest backup of each of the n newest hours that have one'),
    keepDaily: keep('keep the newest backup of each of the n newest days that have one'),
    keepWeekly: keep('keep the newest backup of each of the n newest ISO weeks that have one'),
    keepMonthly: keep('keep the newest backup of each of the n newest months that have one'),
    keepYearly: keep('keep the newest backup of each of the n newest years that have one'),
    keepWithin: z
      .string()
      .refine((v) => parseDuration(v) !== null, {
        error: 'must be a duration such as 7d, 36h or 1y6m (units y m w d h)',
      })
      .optional()
      .describe('keep every backup made within this duration of the newest backup, e.g. 7d, 36h, 1y6m'),
  })
  .describe(
    "restic-style retention in the policy's time zone; rules combine by OR, -1 means unlimited; with no rule everything is kept. The newest verified backup, backups under object lock, and everything while the newest backup fails are always kept",
  );

const cronSchedule = z.string().superRefine((v, ctx) => {
  const c = checkCron(v);
  if (!c.ok) ctx.addIssue({ code: 'custom', message: c.message });
});

/** Restore drills of a policy's backups (src/drill): `dr drill` on a schedule. */
export const drillSchema = z
  .strictObject({
    schedule: cronSchedule.describe(
      'cron expression of the drills, in the policy\'s time zone (e.g. "0 4 * * 0": Sundays at 04:00)',
    ),
    members: z
      .int()
      .refine((v) => v === 1 || v === 3, { error: 'must be 1 or 3' })
      .default(1)
      .describe('members of the throwaway cluster the newest backup is restored into (1 or 3)'),
    storage: name('storage').optional().meta({
      description: "the storage target (one of the policy's) the backup is drilled from",
      defaultText: "the policy's first storage target",
    }),
    staleAfterSeconds: z.int().positive().optional().meta({
      description: 'age of the last successful drill after which EtcdBackupDrillStale fires',
      defaultText: 'twice the drill interval',
    }),
    etcdBinDirs: z
      .array(absolute('folder holding etcd and etcdctl (and etcdutl) of one etcd version'))
      .default([])
      .describe(
        "folders searched, before PATH, for the etcd whose major.minor matches the backup's (e.g. /opt/etcd-v3.5.16)",
      ),
    workDir: absolute(
      'where the temporary directory of a drill is made (it needs the db size plus ~100 MB per member)',
    )
      .optional()
      .meta({ defaultText: "the system's temporary directory" }),
    identityFile: absolute(
      'age identity file (AGE-SECRET-KEY-1..., mode 0600) that opens encrypted backups for the drill; a host with it can read every backup encrypted to its key',
    ).optional(),
    bumpRevision: z
      .int()
      .positive()
      .optional()
      .describe(
        "rehearse the Kubernetes restore: --bump-revision N --mark-compacted on every member (needs etcdutl 3.5.10+); the drilled store starts at the backup's revision + N, and its HashKV is not compared with the backup's",
      ),
  })
  .describe(
    'scheduled restore drills: the newest backup of the policy restored into a throwaway cluster on loopback, verified against the backup, timed (the measured RTO) and removed',
  );

/** The revision log of a policy's cluster (src/revlog), written by the daemon between the policy's backups. */
export const revisionLogSchema = z
  .strictObject({
    storage: name('storage').optional().meta({
      description:
        "the storage target (one of the policy's) the log is written to; restores read it beside the backups there",
      defaultText: "the policy's first storage target",
    }),
    segmentSeconds: z
      .int()
      .positive()
      .default(5)
      .describe('a segment closes this many seconds after its first revision (the recovery point objective)'),
    segmentMaxBytes: z
      .int()
      .positive()
      .default(4 << 20)
      .describe('a segment closes early at this many plain (uncompressed) bytes'),
    checkpointEverySeconds: z
      .int()
      .nonnegative()
      .default(300)
      .describe('HashKV checkpoint period (0: none): proofs a replay can be checked against'),
    lagAlertSeconds: z
      .int()
      .positive()
      .default(120)
      .describe(
        'EtcdBackupLogLagHigh fires when revisions etcd has sent are not committed to storage for this long, or the log is not running',
      ),
  })
  .describe(
    "the revision log: every change to the policy's cluster, watched and committed to storage in segments of a few seconds, encrypted to the policy's recipients like its backups",
  );

/** S3 Object Lock of a policy's backups (src/storage/object-lock.ts, src/retention/lock-period.ts). */
export const objectLockSchema = z
  .strictObject({
    mode: z
      .enum(['governance', 'compliance'])
      .describe(
        'governance: a principal with s3:BypassGovernanceRetention can still remove a backup early; compliance: nobody can, not even the account root, until the date passes',
      ),
    minRetain: z
      .string()
      .refine((v) => parseDuration(v) !== null, {
        error: 'must be a duration such as 30d, 2w or 1y (units y m w d h)',
      })
      .optional()
      .describe(
        'lock every backup at least this long, even where retention would let it go sooner (the lock is always at least as long as retention keeps a backup)',
      ),
    verifyBucket: z
      .boolean()
      .default(true)
      .describe(
        'check before backing up that the bucket has versioning and Object Lock enabled (s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration); false only when those permissions are missing and you checked the bucket yourself',
      ),
  })
  .describe(
    'S3 Object Lock on every backup of the policy (data object and manifest), retain-until derived from the retention rules; needs s3:// targets whose bucket has Object Lock enabled, finite retention rules, and a request checksum (checksum=sha256 or crc32c on custom endpoints)',
  );

export const policySchema = z.strictObject({
  name: name('policy').describe('policy name: labels metrics and manifests'),
  cluster: name('cluster').describe('the cluster (by name) this policy backs up'),
  schedule: z
    .string()
    .superRefine((v, ctx) => {
      const c = checkCron(v);
      if (!c.ok) ctx.addIssue({ code: 'custom', message: c.message });
    })
    .describe(
      'cron expression (node-cron): 5 fields, or 6 with leading seconds; day-of-month and day-of-week must both match',
    ),
  timezone: z
    .string()
    .refine(isValidTimezone, { error: 'must be an IANA time zone such as UTC or Europe/Berlin' })
    .default('UTC')
    .describe(
      'IANA time zone of the schedule and of the retention buckets; a firing inside a DST gap (02:30 on a spring-forward night in Europe) is skipped that day',
    ),
  storage: z
    .array(name('storage'))
    .min(1, 'needs at least one storage target')
    .describe('storage targets (by name) every backup is written to'),
  compressionLevel: z
    .int()
    .min(1)
    .max(19)
    .default(DEFAULT_COMPRESSION_LEVEL)
    .describe('zstd level, 1 (fast) to 19 (small)'),
  verifyAfterUpload: z
    .boolean()
    .default(true)
    .describe('re-read the stored object after upload and check its sha256 and structure'),
  jitterSeconds: z
    .int()
    .min(0)
    .default(0)
    .describe('random delay of up to this many seconds before each scheduled backup; less than the interval'),
  retention: retentionSchema.prefault({}),
  alerts: z
    .strictObject({
      staleAfterSeconds: z.int().positive().optional().meta({
        description: 'age of the last success after which the backup counts as stale',
        defaultText: 'twice the schedule interval',
      }),
    })
    .prefault({})
    .describe('alert thresholds exported with the metrics'),
  encryption: z
    .strictObject({
      recipients: z
        .array(
          z.string().superRefine((v, ctx) => {
            try {
              parseRecipient(v, 'recipient');
            } catch (err) {
              ctx.addIssue({ code: 'custom', message: (err as Error).message });
            }
          }),
        )
        .default([])
        .describe('age X25519 recipients (age1..., public keys) every backup is encrypted to'),
      recipientsFile: absolute(
        'file of age recipients, one per line, # comments; read at every backup, so edits apply without a reload',
      ).optional(),
    })
    .refine((v) => v.recipients.length > 0 || v.recipientsFile !== undefined, {
      error: 'give recipients or recipientsFile',
    })
    .optional()
    .describe(
      'encrypt backups with age (stored as <id>.db.zst.age). Public keys only: the host that takes backups cannot read them back',
    ),
  drill: drillSchema.optional(),
  objectLock: objectLockSchema.optional(),
  revisionLog: revisionLogSchema.optional(),
});

export const serverSchema = z
  .strictObject({
    listen: z
      .string()
      .refine(hostPortOk, { error: 'must be host:port, e.g. 127.0.0.1:9464' })
      .default('127.0.0.1:9464')
      .describe('address of the HTTP API and /metrics'),
    tokenFile: path('file holding the bearer token of mutating endpoints').optional(),
    tokenEnv: z
      .string()
      .regex(ENV_NAME, 'must be an environment variable name')
      .optional()
      .describe('environment variable holding the bearer token of mutating endpoints'),
  })
  .superRefine((v, ctx) => {
    if (v.tokenFile !== undefined && v.tokenEnv !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenEnv'],
        message: 'give at most one of tokenFile or tokenEnv',
      });
    }
  })
  .describe('HTTP API; without a token, mutating endpoints are refused');

export const configSchema = z.strictObject({
  version: z.literal(1).default(1).describe('config format version'),
  clusters: z
    .array(clusterSchema)
    .min(1, 'needs at least one cluster')
    .describe('etcd clusters dr connects to'),
  storage: z
    .array(storageSchema)
    .min(1, 'needs at least one storage target')
    .describe('where backups are written'),
  policies: z
    .array(policySchema)
    .default([])
    .describe('scheduled backups: one cluster, one schedule, one retention'),
  server: serverSchema.prefault({}),
  catalog: z
    .strictObject({
      path: path('SQLite catalog file (a cache, rebuildable from the manifests in storage)').default(
        '/var/lib/etcd-dr/catalog.sqlite',
      ),
    })
    .prefault({})
    .describe('local catalog of backups'),
  manifests: z
    .strictObject({
      signKeyFile: path(
        'Ed25519 private key (PKCS#8 PEM, mode 0600): every manifest this daemon writes is signed',
      ).optional(),
      verifyKeyFile: path(
        'Ed25519 public key(s) (SPKI PEM): manifests without a valid signature are refused by every reader',
      ).optional(),
    })
    .prefault({})
    .describe('tamper evidence: manifest signing and signature checking'),
  concurrency: z.int().min(1).default(2).describe('backups running at the same time across all clusters'),
});

/** The config as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The config with defaults applied; paths and secrets not yet resolved (see load.ts for `Config`). */
export type ConfigDocument = z.output<typeof configSchema>;
export type ClusterDocument = z.output<typeof clusterSchema>;
export type StorageDocument = z.output<typeof storageSchema>;
export type PolicyDocument = z.output<typeof policySchema>;
export type RetentionDocument = z.output<typeof retentionSchema>;
export type MemberDocument = z.output<typeof restoreMemberSchema>;
export type TlsDocument = z.output<typeof tlsSchema>;
export type DrillDocument = z.output<typeof drillSchema>;
export type RevisionLogDocument = z.output<typeof revisionLogSchema>;
export type ObjectLockDocument = z.output<typeof objectLockSchema>;
