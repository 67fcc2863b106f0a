/**
 * etcd's v3 gRPC services, loaded from etcd's own rpc.proto (vendored with the files it imports: see
 * src/formats/raft/etcd-protos.ts). Longs arrive as decimal strings and are turned into bigint by the caller.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ETCD_PROTO_FILES, etcdProtoIncludeDirs } from '../formats/raft/etcd-protos.js';

export type ServiceName = 'KV' | 'Lease' | 'Cluster' | 'Maintenance' | 'Auth' | 'Watch';
export type ServiceClientCtor = grpc.ServiceClientConstructor;

let cached: Record<ServiceName, ServiceClientCtor> | undefined;

export function etcdServices(): Record<ServiceName, ServiceClientCtor> {
  if (cached) return cached;
  const def = protoLoader.loadSync(ETCD_PROTO_FILES.rpc, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: etcdProtoIncludeDirs(),
  });
  const pkg = grpc.loadPackageDefinition(def).etcdserverpb as Record<string, ServiceClientCtor>;
  cached = {
    KV: pkg.KV!,
    Lease: pkg.Lease!,
    Cluster: pkg.Cluster!,
    Maintenance: pkg.Maintenance!,
    Auth: pkg.Auth!,
    Watch: pkg.Watch!,
  };
  return cached;
}
