/**
 * The protobuf messages stored in etcd's backend buckets (docs/format.md §5), declared with protobufjs
 * reflection so decoding is the library's, not hand-rolled varint code. int64/uint64 fields decode to Long
 * and are turned into bigint by `big()`.
 */
import protobuf from 'protobufjs';

// protobufjs finds the `long` package itself (its own dependency): 64-bit fields decode to Long objects.
interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

export const root = protobuf.Root.fromJSON({
  nested: {
    mvccpb: {
      nested: {
        KeyValue: {
          fields: {
            key: { type: 'bytes', id: 1 },
            create_revision: { type: 'int64', id: 2 },
            mod_revision: { type: 'int64', id: 3 },
            version: { type: 'int64', id: 4 },
            value: { type: 'bytes', id: 5 },
            lease: { type: 'int64', id: 6 },
          },
        },
      },
    },
    leasepb: {
      nested: {
        Lease: {
          fields: {
            ID: { type: 'int64', id: 1 },
            TTL: { type: 'int64', id: 2 },
            RemainingTTL: { type: 'int64', id: 3 },
          },
        },
      },
    },
    authpb: {
      nested: {
        UserAddOptions: { fields: { no_password: { type: 'bool', id: 1 } } },
        User: {
          fields: {
            name: { type: 'bytes', id: 1 },
            password: { type: 'bytes', id: 2 },
            roles: { rule: 'repeated', type: 'string', id: 3 },
            options: { type: 'UserAddOptions', id: 4 },
          },
        },
        Permission: {
          fields: {
            permType: { type: 'Type', id: 1 },
            key: { type: 'bytes', id: 2 },
            range_end: { type: 'bytes', id: 3 },
          },
          nested: { Type: { values: { READ: 0, WRITE: 1, READWRITE: 2 } } },
        },
        Role: {
          fields: {
            name: { type: 'bytes', id: 1 },
            keyPermission: { rule: 'repeated', type: 'Permission', id: 2 },
          },
        },
      },
    },
    etcdserverpb: {
      nested: {
        AlarmMember: {
          fields: {
            memberID: { type: 'uint64', id: 1 },
            alarm: { type: 'AlarmType', id: 2 },
          },
        },
        AlarmType: { values: { NONE: 0, NOSPACE: 1, CORRUPT: 2 } },
      },
    },
  },
});

export const KeyValueType = root.lookupType('mvccpb.KeyValue');
export const LeaseType = root.lookupType('leasepb.Lease');
export const UserType = root.lookupType('authpb.User');
export const RoleType = root.lookupType('authpb.Role');
export const AlarmMemberType = root.lookupType('etcdserverpb.AlarmMember');

/** Long | number | undefined -> bigint (signed unless the Long is unsigned) */
export function big(v: unknown): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'number') return BigInt(v);
  const l = v as LongLike;
  const x = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return l.unsigned ? x : BigInt.asIntN(64, x);
}

export function bytes(v: unknown): Buffer {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.alloc(0);
}
