/**
 * etcd's own .proto files, vendored verbatim under `proto/etcd-v3.5.16/` at the package root (its README
 * names the source of each file). Both the gRPC client (src/etcd/grpc-services.ts) and the raft/WAL
 * decoders (proto.ts) load them from there; nothing else in the project describes etcd's messages.
 *
 * Import paths resolve the way etcd's scripts/genproto.sh resolves them: the folder itself holds
 * `etcd/...` (etcd's repository), `gogoproto/` and `google/`; `etcd/` is a second include root for
 * imports written relative to etcd's repository (`raft/raftpb/raft.proto`).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const ETCD_PROTO_VERSION = 'v3.5.16';

/** Paths inside the folder of the files the project loads. */
export const ETCD_PROTO_FILES = {
  rpc: 'etcd/api/etcdserverpb/rpc.proto',
  kv: 'etcd/api/mvccpb/kv.proto',
  raftInternal: 'etcd/api/etcdserverpb/raft_internal.proto',
  walRecord: 'etcd/server/wal/walpb/record.proto',
  snap: 'etcd/server/etcdserver/api/snap/snappb/snap.proto',
} as const;

let dir: string | undefined;

/**
 * The vendored folder, found from this module's own location without touching the disk: it runs from
 * src/formats/raft/ (tests) and dist/formats/raft/ (tsc's output), three levels below the package root,
 * and from dist/cli/ as a chunk of the bundled `dr` (scripts/bundle.mjs), two levels below. The installed
 * package (and the Dockerfile) keeps proto/ beside dist/.
 */
export function etcdProtoDir(): string {
  if (dir) return dir;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const root =
    path.basename(here) === 'cli' ? path.resolve(here, '..', '..') : path.resolve(here, '..', '..', '..');
  return (dir = path.join(root, 'proto', `etcd-${ETCD_PROTO_VERSION}`));
}

/** The include roots, in etcd's order: the folder, then etcd's repository inside it. */
export function etcdProtoIncludeDirs(): string[] {
  const d = etcdProtoDir();
  return [d, path.join(d, 'etcd')];
}

/**
 * A protobufjs Root holding `files` and everything they import. Field names are kept as etcd spells them
 * (`Term`, `node_id`, `ID`): proto.ts maps them to the project's camelCase in one place.
 */
export function loadEtcdProtos(files: readonly string[]): protobuf.Root {
  const include = etcdProtoIncludeDirs();
  const root = new protobuf.Root();
  // etcd's imports name a path under one of the two roots (`etcd/api/...`, `gogoproto/...`, `google/...`
  // under the folder; `raft/...` under etcd's repository) or a file beside the importing one (`rpc.proto`).
  // Decided by name, without looking at the disk: this module only names the vendored files, and
  // protobufjs reads them.
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    if (/^(etcd|gogoproto|google)\//.test(target)) return path.join(include[0]!, target);
    if (target.startsWith('raft/')) return path.join(include[1]!, target);
    return protobuf.util.path.resolve(origin, target);
  };
  try {
    root.loadSync(
      files.map((f) => path.join(include[0]!, f)),
      { keepCase: true },
    );
  } catch (err) {
    throw new Error(
      `protos: cannot load etcd's .proto files from ${include[0]} (is the package complete?): ${(err as Error).message}`,
      { cause: err },
    );
  }
  root.resolveAll();
  return root;
}
