/**
 * The etcd v3 client dr uses: @grpc/grpc-js over etcd's own protos (the snapshot's bytes excepted:
 * snapshot-call.ts), one lazily created channel per endpoint, TLS from files, user/password auth with a token sent as `token` metadata, a dial timeout, a
 * per-request deadline, and errors classified into DrError codes that always name the endpoint
 * (see README.md in this folder).
 *
 * Over 400 lines on purpose: one client object, one method per RPC dr uses, all through the same
 * channel, deadline, token and error path.
 */
import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { DrError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import {
  aggregateFailures,
  classifyEtcdError,
  isInvalidTokenError,
  type EndpointFailure,
} from './classify-error.js';
import { parseEndpoint, type ParsedEndpoint } from './endpoint.js';
import { etcdServices, type ServiceName } from './grpc-services.js';
import { createSnapshotStream } from './snapshot-stream.js';
import { createWatchStream, keyValueOf, type RawKeyValue } from './watch-stream.js';
import { startSnapshotCall } from './snapshot-call.js';
import { hasTlsFiles, readTlsMaterial, sslCredentials } from './tls-credentials.js';
import type {
  Alarm,
  EndpointStatus,
  EtcdConnectionOptions,
  HashKVResult,
  KeyValue,
  LeaseTimeToLive,
  Member,
  MemberStatus,
  PutItem,
  SnapshotPreference,
  TxnAnswer,
  TxnGuard,
  TxnOp,
  WatchOptions,
  WatchStream,
} from './types.js';
import { txnRequest } from './types.js';

export interface EtcdClient {
  /** the endpoints as configured (credentials stripped), in order; every method takes one of these */
  readonly endpoints: readonly string[];
  status(endpoint: string): Promise<MemberStatus>;
  /** asks every endpoint in parallel; never throws */
  statusAll(): Promise<EndpointStatus[]>;
  memberList(): Promise<Member[]>;
  alarms(): Promise<Alarm[]>;
  /** HashKV of one member up to `revision` (0n or absent: the member's current revision). Needs root under auth. */
  hashKV(endpoint: string, revision?: bigint): Promise<HashKVResult>;
  /** returns the revision of the write */
  put(key: string | Uint8Array, value: string | Uint8Array, opts?: { lease?: bigint }): Promise<bigint>;
  /** `fromKey`: every key at or after `key` ("\0": every key); `revision`: as of that revision */
  get(
    key: string | Uint8Array,
    opts?: { prefix?: boolean; fromKey?: boolean; limit?: number; revision?: bigint },
  ): Promise<KeyValue[]>;
  /**
   * How many live keys one member holds (whole keyspace, or under prefix) as of `revision` (0n / absent:
   * now). Asks the member for a count only; no key or value crosses the wire.
   */
  countKeys(
    endpoint: string,
    opts?: { prefix?: string | Uint8Array; revision?: bigint },
  ): Promise<{ count: number; revision: bigint }>;
  /** returns how many keys were deleted */
  delete(key: string | Uint8Array, opts?: { prefix?: boolean }): Promise<bigint>;
  /**
   * Puts many keys in as few transactions as etcd allows (at most 128 operations and about 1 MiB per
   * transaction, etcd's defaults). Returns the revision of the last transaction (0n for an empty batch).
   */
  txnPuts(batch: PutItem[]): Promise<bigint>;
  /**
   * One transaction of puts and single-key deletes on one member, as given (no splitting), unconditional
   * or under a guard. Answers its revision and whether the guard held. (The replay's hot path is
   * txn-session.ts.)
   */
  txn(endpoint: string, ops: readonly TxnOp[], guard?: TxnGuard): Promise<TxnAnswer>;
  /** returns the lease ID; `id` asks for that ID (a replay keeps the original's) */
  leaseGrant(ttlSeconds: number, id?: bigint): Promise<bigint>;
  /** every lease the member holds */
  leaseLeases(endpoint: string): Promise<bigint[]>;
  /** one keep-alive for each lease, on one stream; resolves when every one was answered */
  leaseKeepAlive(endpoint: string, ids: readonly bigint[]): Promise<void>;
  compact(revision: bigint, opts?: { physical?: boolean }): Promise<void>;
  defragment(endpoint: string): Promise<void>;
  /**
   * The endpoint to snapshot: a member answering status that sees a leader, preferring a follower by
   * default to keep load off the leader (the most up-to-date follower), falling back to any healthy
   * member. Throws ETCD_UNREACHABLE (or the common code, e.g. ETCD_TLS_FAILED) listing every endpoint.
   */
  pickSnapshotSource(prefer?: SnapshotPreference): Promise<PickedSource>;
  /**
   * Maintenance.Snapshot of one member as raw bytes (db, then etcd's 32-byte sha256). Errors are emitted
   * on the Readable: before the first byte with the access code (ETCD_PERMISSION_DENIED, ETCD_AUTH_FAILED,
   * ETCD_TLS_FAILED, ETCD_UNREACHABLE), afterwards SNAPSHOT_STREAM_FAILED; ABORTED on the signal.
   */
  snapshot(endpoint: string, signal?: AbortSignal): Readable;
  /**
   * A watch on one member (watch-stream.ts): responses as etcd sends them, read only as fast as they are
   * taken. Failures are thrown by the iterator, classified; close() or the signal end it quietly.
   */
  watch(endpoint: string, opts: WatchOptions, signal?: AbortSignal): WatchStream;
  /** The lease's remaining and granted TTL (ttl -1 when it is gone). */
  leaseTimeToLive(id: bigint): Promise<LeaseTimeToLive>;
  close(): void;
}

/** The member chosen for a snapshot, with the status it answered while being chosen. */
export interface PickedSource {
  endpoint: string;
  status: MemberStatus;
}

export interface EtcdClientDeps {
  logger?: Logger;
}

const MAX_TXN_OPS = 128;
const MAX_TXN_BYTES = 1024 * 1024;

interface Conn {
  ep: ParsedEndpoint;
  channel?: grpc.Channel;
  clients: Partial<Record<ServiceName, grpc.Client>>;
}

type Unary = (
  req: unknown,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: unknown) => void,
) => void;

const big = (v: string | number | undefined | null): bigint => BigInt(v ?? 0);
const bytes = (v: string | Uint8Array): Buffer => (typeof v === 'string' ? Buffer.from(v) : Buffer.from(v));

/** etcd's range_end for "every key with this prefix": the prefix with its last byte incremented. */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function createEtcdClient(opts: EtcdConnectionOptions, deps: EtcdClientDeps = {}): EtcdClient {
  const log = (deps.logger ?? silentLogger).child({ component: 'etcd' });
  if (opts.endpoints.length === 0) throw new DrError('USAGE', 'etcd: no endpoints given');
  const tls = hasTlsFiles(opts);
  const parsed = opts.endpoints.map((e) => parseEndpoint(e, tls));
  const anySecure = parsed.some((p) => p.secure);
  // Read the files now, whenever they are given: a wrong path is a configuration error, reported before
  // any dial, even if every endpoint happens to be http:// (the operator asked for TLS and should know).
  const tlsMaterial = anySecure || tls ? readTlsMaterial(opts) : undefined;
  const secureCreds = tlsMaterial ? sslCredentials(tlsMaterial) : undefined;
  if (tls && !anySecure) log.warn('TLS files given but every endpoint is http://: they are not used');
  const dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
  const reconnectBackoffMs = opts.reconnectBackoffMs ?? 500;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const services = etcdServices();
  const conns = new Map<string, Conn>(parsed.map((ep) => [ep.display, { ep, clients: {} }]));
  const endpoints = parsed.map((p) => p.display);
  /** the shared auth token and the endpoint it was asked from */
  let token: { value: Promise<string>; via: Conn } | undefined;
  let closed = false;

  function conn(endpoint: string): Conn {
    // also accept another spelling of a configured endpoint ("127.0.0.1:2379" for "http://127.0.0.1:2379")
    const c =
      conns.get(endpoint) ??
      [...conns.values()].find((x) => {
        try {
          const p = parseEndpoint(endpoint, tls);
          return p.address === x.ep.address && p.secure === x.ep.secure;
        } catch {
          return false;
        }
      });
    if (!c) {
      throw new DrError('USAGE', `etcd: ${endpoint} is not one of the configured endpoints`, { endpoint });
    }
    if (closed) throw new DrError('INTERNAL', 'etcd: client used after close()');
    return c;
  }

  function channelOf(c: Conn): grpc.Channel {
    if (!c.channel) {
      const creds = c.ep.secure ? secureCreds! : grpc.credentials.createInsecure();
      c.channel = new grpc.Channel(c.ep.address, creds, {
        // Range answers can be large (snapshots do not use this channel: snapshot-call.ts)
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        // a member that was down should be retried soon after it is back (daemon clients live long)
        'grpc.initial_reconnect_backoff_ms': reconnectBackoffMs,
        'grpc.max_reconnect_backoff_ms': 10 * reconnectBackoffMs,
      });
    }
    return c.channel;
  }

  function service(c: Conn, name: ServiceName): grpc.Client {
    let client = c.clients[name];
    if (!client) {
      const channel = channelOf(c);
      const Ctor = services[name];
      client = new Ctor(c.ep.address, grpc.credentials.createInsecure(), { channelOverride: channel });
      c.clients[name] = client;
    }
    return client;
  }

  /**
   * Waits up to the dial timeout for the channel to connect. A channel that failed to connect
   * (TRANSIENT_FAILURE) is handed to the call anyway: a fail-fast call then reports the reason
   * (connection refused, the TLS handshake error) in its details, which a plain wait would hide.
   */
  async function ensureReady(c: Conn): Promise<void> {
    const channel = channelOf(c);
    const deadline = Date.now() + dialTimeoutMs;
    let state = channel.getConnectivityState(true);
    while (state !== grpc.connectivityState.READY) {
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) return;
      if (state === grpc.connectivityState.SHUTDOWN) {
        throw new DrError('INTERNAL', 'etcd: client used after close()');
      }
      const changed = await new Promise<boolean>((resolve) =>
        channel.watchConnectivityState(state, deadline, (err) => resolve(!err)),
      );
      if (!changed) {
        throw new DrError(
          'ETCD_UNREACHABLE',
          `etcd: no connection to ${c.ep.display} within the dial timeout of ${dialTimeoutMs} ms`,
          { endpoint: c.ep.display },
        );
      }
      state = channel.getConnectivityState(true);
    }
  }

  function invoke<Res>(
    c: Conn,
    name: ServiceName,
    method: string,
    req: unknown,
    md: grpc.Metadata,
  ): Promise<Res> {
    const client = service(c, name) as unknown as Record<string, Unary>;
    const fn = client[method]!.bind(client);
    return new Promise<Res>((resolve, reject) => {
      fn(req, md, { deadline: Date.now() + requestTimeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as Res),
      );
    });
  }

  async function authenticate(c: Conn): Promise<string> {
    await ensureReady(c);
    try {
      const res = await invoke<{ token: string }>(
        c,
        'Auth',
        'Authenticate',
        { name: opts.user, password: opts.password ?? '' },
        new grpc.Metadata(),
      );
      log.debug({ endpoint: c.ep.display, user: opts.user }, 'authenticated');
      return res.token;
    } catch (err) {
      throw classifyEtcdError(err, c.ep.display, 'authenticate');
    }
  }

  function shareToken(value: Promise<string>, via: Conn): { value: Promise<string>; via: Conn } {
    const t = { value, via };
    token = t;
    value.catch(() => {
      if (token === t) token = undefined;
    });
    return t;
  }

  async function metadataFor(c: Conn): Promise<grpc.Metadata> {
    const md = new grpc.Metadata();
    if (opts.user) {
      // One token is shared by every endpoint (etcd replicates simple tokens through raft).
      const t = token ?? shareToken(authenticate(c), c);
      try {
        md.set('token', await t.value);
      } catch (err) {
        if (t.via === c) throw err;
        // The shared authentication ran on another endpoint (down, or refusing): its failure says nothing
        // about this one. Authenticate here, so that the request goes on, or fails naming this endpoint.
        const own = token && token !== t && token.via === c ? token : shareToken(authenticate(c), c);
        md.set('token', await own.value);
      }
    }
    return md;
  }

  async function unary<Res>(endpoint: string, name: ServiceName, method: string, req: unknown): Promise<Res> {
    const c = conn(endpoint);
    for (let attempt = 0; ; attempt++) {
      await ensureReady(c);
      const md = await metadataFor(c);
      try {
        return await invoke<Res>(c, name, method, req, md);
      } catch (err) {
        if (attempt === 0 && opts.user && isInvalidTokenError(err)) {
          log.info({ endpoint }, 'etcd auth token rejected; authenticating again');
          token = undefined;
          continue;
        }
        if ((err as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED) {
          throw new DrError(
            'ETCD_REQUEST_FAILED',
            `etcd: ${name}.${method} on ${endpoint} failed: no answer within the request timeout of ${requestTimeoutMs} ms`,
            { endpoint, operation: `${name}.${method}`, timeoutMs: requestTimeoutMs },
            { cause: err },
          );
        }
        throw classifyEtcdError(err, endpoint, `${name}.${method}`);
      }
    }
  }

  /** Cluster-wide requests: the first endpoint that answers; access errors stop at once. */
  async function anyEndpoint<Res>(name: ServiceName, method: string, req: unknown): Promise<Res> {
    const failures: EndpointFailure[] = [];
    for (const endpoint of endpoints) {
      try {
        return await unary<Res>(endpoint, name, method, req);
      } catch (err) {
        const e = classifyEtcdError(err, endpoint, `${name}.${method}`);
        if (e.code !== 'ETCD_UNREACHABLE' && e.code !== 'ETCD_TLS_FAILED') throw e;
        log.warn({ endpoint, code: e.code }, `etcd ${name}.${method} failed, trying the next endpoint`);
        failures.push({ endpoint, error: e });
      }
    }
    throw aggregateFailures(`${name}.${method}`, failures);
  }

  async function status(endpoint: string): Promise<MemberStatus> {
    const r = await unary<RawStatus>(endpoint, 'Maintenance', 'Status', {});
    return {
      endpoint,
      memberId: big(r.header?.member_id),
      clusterId: big(r.header?.cluster_id),
      leaderId: big(r.leader),
      version: r.version,
      dbSize: big(r.dbSize),
      dbSizeInUse: big(r.dbSizeInUse),
      raftIndex: big(r.raftIndex),
      raftTerm: big(r.raftTerm),
      raftAppliedIndex: big(r.raftAppliedIndex),
      revision: big(r.header?.revision),
      isLearner: Boolean(r.isLearner),
      errors: r.errors ?? [],
    };
  }

  async function statusAll(): Promise<EndpointStatus[]> {
    return Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          return { endpoint, status: await status(endpoint) };
        } catch (err) {
          return { endpoint, error: classifyEtcdError(err, endpoint, 'status') };
        }
      }),
    );
  }

  async function pickSnapshotSource(
    prefer: SnapshotPreference = opts.snapshotFrom ?? 'follower',
  ): Promise<PickedSource> {
    const all = await statusAll();
    const answered = all.filter((s): s is EndpointStatus & { status: MemberStatus } => !!s.status);
    if (answered.length === 0) {
      const failures = all.map((s) => ({ endpoint: s.endpoint, error: s.error! }));
      // A member that answered "wrong password" or "permission denied" says what to fix; the ones that did
      // not answer at all are named after it.
      const access = failures.filter(
        (f) => f.error.code === 'ETCD_AUTH_FAILED' || f.error.code === 'ETCD_PERMISSION_DENIED',
      );
      const silent = failures.filter((f) => !access.includes(f));
      if (access.length === 0 || silent.length === 0)
        throw aggregateFailures('pick a member to snapshot', failures);
      const first = access[0]!.error;
      throw new DrError(
        first.code,
        `etcd: pick a member to snapshot: ${access.map((f) => f.error.message).join('; ')}; no answer from ${silent.map((f) => `${f.endpoint} (${f.error.code})`).join(', ')}`,
        {
          operation: 'pick a member to snapshot',
          endpoints: failures.map((f) => ({
            endpoint: f.endpoint,
            code: f.error.code,
            message: f.error.message,
          })),
        },
      );
    }
    // A member that sees no leader may be cut off and stale; use it only if nothing better answers.
    const withLeader = answered.filter((s) => s.status.leaderId !== 0n);
    const pool = withLeader.length > 0 ? withLeader : answered;
    if (withLeader.length === 0) {
      log.warn({ endpoints: pool.map((s) => s.endpoint) }, 'no member sees a leader; snapshotting anyway');
    }
    const isLeader = (s: MemberStatus) => s.leaderId === s.memberId;
    const freshest = (list: typeof pool) =>
      [...list].sort((a, b) =>
        a.status.raftAppliedIndex === b.status.raftAppliedIndex
          ? 0
          : a.status.raftAppliedIndex > b.status.raftAppliedIndex
            ? -1
            : 1,
      )[0];
    let chosen: (typeof pool)[number] | undefined;
    if (prefer === 'follower')
      chosen = freshest(pool.filter((s) => !isLeader(s.status) && !s.status.isLearner));
    else if (prefer === 'leader') chosen = pool.find((s) => isLeader(s.status));
    chosen ??= pool[0]!;
    log.info(
      { endpoint: chosen.endpoint, prefer, leader: isLeader(chosen.status) },
      'picked the member to snapshot',
    );
    return { endpoint: chosen.endpoint, status: chosen.status };
  }

  function snapshot(endpoint: string, signal?: AbortSignal): Readable {
    const c = conn(endpoint);
    return createSnapshotStream({
      endpoint,
      idleTimeoutMs: requestTimeoutMs,
      signal,
      open: async () => {
        await ensureReady(c);
        const md = await metadataFor(c);
        const token = md.get('token')[0];
        // the bytes themselves come over Node's HTTP/2 directly (snapshot-call.ts explains why)
        return startSnapshotCall({
          address: c.ep.address,
          secure: c.ep.secure,
          socketPath: c.ep.socketPath,
          tls: tlsMaterial,
          token: token === undefined ? undefined : String(token),
          dialTimeoutMs,
        });
      },
      classify: (err) => classifyEtcdError(err, endpoint, 'snapshot'),
      shouldRetry: (err) => Boolean(opts.user) && isInvalidTokenError(err),
      beforeRetry: () => {
        log.info({ endpoint }, 'etcd auth token rejected; authenticating again');
        token = undefined;
      },
    });
  }

  function watch(endpoint: string, o: WatchOptions, signal?: AbortSignal): WatchStream {
    const c = conn(endpoint);
    return createWatchStream(
      endpoint,
      o,
      async () => {
        await ensureReady(c);
        const md = await metadataFor(c);
        // etcd ends the watch (ErrNoLeader) when this member loses its leader, instead of keeping it open
        // and silent on a member cut off from the cluster: the caller then watches another member
        md.set('hasleader', 'true');
        const client = service(c, 'Watch') as unknown as {
          Watch(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, never>;
        };
        return client.Watch(md);
      },
      signal,
    );
  }

  async function leaseKeepAlive(endpoint: string, ids: readonly bigint[]): Promise<void> {
    if (ids.length === 0) return;
    const c = conn(endpoint);
    await ensureReady(c);
    const md = await metadataFor(c);
    const client = service(c, 'Lease') as unknown as {
      LeaseKeepAlive(md: grpc.Metadata, o: grpc.CallOptions): grpc.ClientDuplexStream<unknown, unknown>;
    };
    const call = client.LeaseKeepAlive(md, { deadline: Date.now() + requestTimeoutMs });
    let answered = 0;
    await new Promise<void>((resolve, reject) => {
      call.on('data', () => {
        if (++answered === ids.length) {
          call.end();
          resolve();
        }
      });
      call.on('error', (err) => reject(classifyEtcdError(err, endpoint, 'Lease.LeaseKeepAlive')));
      call.on('end', () =>
        answered >= ids.length
          ? resolve()
          : reject(
              new DrError(
                'ETCD_REQUEST_FAILED',
                `etcd: Lease.LeaseKeepAlive on ${endpoint} ended after ${answered} of ${ids.length} answers`,
                { endpoint },
              ),
            ),
      );
      for (const id of ids) call.write({ ID: id.toString() });
    }).finally(() => call.cancel());
  }

  async function txnPuts(batch: PutItem[]): Promise<bigint> {
    let revision = 0n;
    let ops: unknown[] = [];
    let size = 0;
    const flush = async () => {
      if (ops.length === 0) return;
      const r = await anyEndpoint<{ header?: RawHeader }>('KV', 'Txn', {
        compare: [],
        success: ops,
        failure: [],
      });
      revision = big(r.header?.revision);
      ops = [];
      size = 0;
    };
    for (const item of batch) {
      const key = bytes(item.key);
      const value = bytes(item.value);
      if (ops.length >= MAX_TXN_OPS || (ops.length > 0 && size + key.length + value.length > MAX_TXN_BYTES)) {
        await flush();
      }
      ops.push({ request_put: { key, value, lease: String(item.lease ?? 0n) } });
      size += key.length + value.length;
    }
    await flush();
    return revision;
  }

  return {
    endpoints,
    status,
    statusAll,
    memberList: async () => {
      const r = await anyEndpoint<{ members: RawMember[] }>('Cluster', 'MemberList', {});
      return r.members.map((m) => ({
        id: big(m.ID),
        name: m.name,
        peerURLs: m.peerURLs,
        clientURLs: m.clientURLs,
        isLearner: Boolean(m.isLearner),
      }));
    },
    alarms: async () => {
      const r = await anyEndpoint<{ alarms: { memberID: string; alarm: string }[] }>('Maintenance', 'Alarm', {
        action: 'Get',
        memberID: '0',
        alarm: 'NONE',
      });
      return r.alarms.map((a) => ({ memberId: big(a.memberID), alarm: a.alarm }));
    },
    hashKV: async (endpoint, revision = 0n) => {
      const r = await unary<{ header?: RawHeader; hash: number; compact_revision: string }>(
        endpoint,
        'Maintenance',
        'HashKV',
        { revision: revision.toString() },
      );
      return {
        endpoint,
        memberId: big(r.header?.member_id),
        hash: r.hash,
        compactRevision: big(r.compact_revision),
        revision: big(r.header?.revision),
      };
    },
    put: async (key, value, o = {}) => {
      const r = await anyEndpoint<{ header?: RawHeader }>('KV', 'Put', {
        key: bytes(key),
        value: bytes(value),
        lease: String(o.lease ?? 0n),
      });
      return big(r.header?.revision);
    },
    get: async (key, o = {}) => {
      const k = bytes(key);
      const r = await anyEndpoint<{ kvs: RawKeyValue[] }>('KV', 'Range', {
        key: k,
        // one key: no range_end at all. An empty range_end sent on the wire reaches etcd as a present,
        // empty one, which it reads as "every key from key on" (the >= form of a range)
        ...(o.prefix ? { range_end: prefixRangeEnd(k) } : o.fromKey ? { range_end: Buffer.from([0]) } : {}),
        limit: String(o.limit ?? 0),
        revision: String(o.revision ?? 0n),
      });
      return r.kvs.map(keyValueOf);
    },
    countKeys: async (endpoint, o = {}) => {
      // key "\0" with range_end "\0" is etcd's spelling of "every key"
      const k = o.prefix === undefined ? Buffer.from([0]) : bytes(o.prefix);
      const r = await unary<{ count: string; header: { revision: string } }>(endpoint, 'KV', 'Range', {
        key: k,
        range_end: o.prefix === undefined ? Buffer.from([0]) : prefixRangeEnd(k),
        revision: String(o.revision ?? 0n),
        count_only: true,
      });
      return { count: Number(r.count), revision: big(r.header?.revision) };
    },
    delete: async (key, o = {}) => {
      const k = bytes(key);
      const r = await anyEndpoint<{ deleted: string }>('KV', 'DeleteRange', {
        key: k,
        ...(o.prefix ? { range_end: prefixRangeEnd(k) } : {}),
      });
      return big(r.deleted);
    },
    txnPuts,
    txn: async (endpoint, ops, guard) => {
      const r = await unary<{ header?: RawHeader; succeeded?: boolean }>(
        endpoint,
        'KV',
        'Txn',
        txnRequest(ops, guard),
      );
      return { revision: big(r.header?.revision), succeeded: r.succeeded === true };
    },
    leaseLeases: async (endpoint) => {
      const r = await unary<{ leases?: { ID: string }[] }>(endpoint, 'Lease', 'LeaseLeases', {});
      return (r.leases ?? []).map((l) => big(l.ID));
    },
    leaseKeepAlive,
    leaseGrant: async (ttlSeconds, id = 0n) => {
      const r = await anyEndpoint<{ ID: string; error: string }>('Lease', 'LeaseGrant', {
        TTL: String(ttlSeconds),
        ID: id.toString(),
      });
      if (r.error) throw new DrError('ETCD_REQUEST_FAILED', `etcd: lease grant failed: ${r.error}`);
      return big(r.ID);
    },
    compact: async (revision, o = {}) => {
      await anyEndpoint('KV', 'Compact', { revision: revision.toString(), physical: o.physical ?? false });
    },
    defragment: async (endpoint) => {
      await unary(endpoint, 'Maintenance', 'Defragment', {});
    },
    pickSnapshotSource,
    snapshot,
    watch,
    leaseTimeToLive: async (id) => {
      const r = await anyEndpoint<{ ID: string; TTL: string; grantedTTL: string }>(
        'Lease',
        'LeaseTimeToLive',
        {
          ID: id.toString(),
          keys: false,
        },
      );
      return { id, ttl: big(r.TTL), grantedTtl: big(r.grantedTTL) };
    },
    close: () => {
      if (closed) return;
      closed = true;
      for (const c of conns.values()) {
        for (const client of Object.values(c.clients)) client?.close();
        c.channel?.close();
      }
    },
  };
}

interface RawHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}
interface RawStatus {
  header?: RawHeader;
  version: string;
  dbSize: string;
  leader: string;
  raftIndex: string;
  raftTerm: string;
  raftAppliedIndex: string;
  errors?: string[];
  dbSizeInUse: string;
  isLearner: boolean;
}
interface RawMember {
  ID: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}
