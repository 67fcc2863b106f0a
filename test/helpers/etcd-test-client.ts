/**
 * A small etcd v3 client for tests that write to a test cluster: raw gRPC calls over the project's own
 * service definitions (src/etcd/grpc-services.ts, etcd's vendored rpc.proto), plaintext only. Requests and
 * responses are etcd's messages as proto-loader gives them (etcd's field names, 64-bit values as decimal
 * strings, enums by name). A call that cannot reach an endpoint moves on to the next one; any other error
 * is thrown. The fluent `put(k).value(v)`, `delete().key(k)`, `get(k).exec()` cover the common writes.
 */
import * as grpc from '@grpc/grpc-js';
import { etcdServices, type ServiceName } from '../../src/etcd/grpc-services.js';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Call = (req: Msg) => Promise<Msg>;

const RETRY_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

export class TestEtcdClient {
  private readonly hosts: string[];
  private readonly timeoutMs: number;
  private readonly clients = new Map<string, grpc.Client>();
  private next = 0;

  readonly kv: { put: Call; range: Call; deleteRange: Call; txn: Call; compact: Call };
  readonly leaseClient: { leaseGrant: Call; leaseRevoke: Call };
  readonly maintenance: { status: Call };

  constructor(opts: { hosts: string | string[]; dialTimeout?: number }) {
    this.hosts = (Array.isArray(opts.hosts) ? opts.hosts : [opts.hosts]).map((h) =>
      h.replace(/^https?:\/\//, ''),
    );
    this.timeoutMs = opts.dialTimeout ?? 10_000;
    const m =
      (service: ServiceName, method: string): Call =>
      (req) =>
        this.call(service, method, req);
    this.kv = {
      put: m('KV', 'Put'),
      range: m('KV', 'Range'),
      deleteRange: m('KV', 'DeleteRange'),
      txn: m('KV', 'Txn'),
      compact: m('KV', 'Compact'),
    };
    this.leaseClient = { leaseGrant: m('Lease', 'LeaseGrant'), leaseRevoke: m('Lease', 'LeaseRevoke') };
    this.maintenance = { status: m('Maintenance', 'Status') };
  }

  /** `await put(k).value(v)` or `await put(k).value(v).exec()`: the PutResponse. */
  put(key: string | Buffer): { value(v: string | Buffer): Promise<Msg> & { exec(): Promise<Msg> } } {
    return {
      value: (v) => {
        const p = this.kv.put({ key: Buffer.from(key), value: Buffer.from(v) });
        return Object.assign(p, { exec: () => p });
      },
    };
  }

  delete(): { key(k: string | Buffer): Promise<Msg> } {
    return { key: (k) => this.kv.deleteRange({ key: Buffer.from(k) }) };
  }

  get(key: string | Buffer): { exec(): Promise<Msg> } {
    return { exec: () => this.kv.range({ key: Buffer.from(key) }) };
  }

  /** A lease without keep-alive; `grant()` gives its ID (decimal string). */
  lease(ttlSeconds: number): { grant(): Promise<string> } {
    return {
      grant: async () => String((await this.leaseClient.leaseGrant({ TTL: ttlSeconds })).ID),
    };
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(service: ServiceName, host: string): grpc.Client {
    const k = `${service} ${host}`;
    let c = this.clients.get(k);
    if (!c) {
      const Ctor = etcdServices()[service];
      c = new Ctor(host, grpc.credentials.createInsecure());
      this.clients.set(k, c);
    }
    return c;
  }

  private async call(service: ServiceName, method: string, req: Msg): Promise<Msg> {
    let lastErr: unknown;
    for (let tried = 0; tried < this.hosts.length; tried++) {
      const host = this.hosts[this.next % this.hosts.length]!;
      try {
        return await new Promise<Msg>((resolve, reject) => {
          const c = this.client(service, host) as unknown as Record<
            string,
            (r: Msg, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res: Msg) => void) => void
          >;
          c[method]!.call(c, req, { deadline: Date.now() + this.timeoutMs }, (e, res) =>
            e ? reject(e) : resolve(res),
          );
        });
      } catch (err) {
        lastErr = err;
        if (!RETRY_CODES.has((err as grpc.ServiceError).code)) throw err;
        this.next++;
      }
    }
    throw lastErr;
  }
}
