/**
 * etcd's v3 gRPC services, loaded from the .proto files the `etcd3` package ships (we use its protos only,
 * not its client). Longs arrive as decimal strings and are turned into bigint by the caller.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export type ServiceName = 'KV' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth';
export type ServiceClientCtor = grpc.ServiceClientConstructor;

let cached: Record<ServiceName, ServiceClientCtor> | undefined;

export function etcdServices(): Record<ServiceName, ServiceClientCtor> {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const protoDir = path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto');
  const def = protoLoader.loadSync(path.join(protoDir, 'rpc.proto'), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [protoDir],
  });
  const pkg = grpc.loadPackageDefinition(def).etcdserverpb as Record<string, ServiceClientCtor>;
  cached = {
    KV: pkg.KV!,
    Lease: pkg.Lease!,
    Cluster: pkg.Cluster!,
    Maintenance: pkg.Maintenance!,
    Auth: pkg.Auth!,
  };
  return cached;
}
