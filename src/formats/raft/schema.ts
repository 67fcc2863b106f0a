/**
 * etcd's protobuf messages as a protobufjs JSON descriptor, written from the format reference
 * (../shared/reference/etcd-on-disk-format.md §2.3, §2.8, §2.9, §3). Field names are camelCase; numbers and
 * wire types are etcd's. Only decoding matters here, so proto2/proto3 differences (presence, packing on
 * encode) are not modelled; repeated scalars are accepted packed and unpacked by protobufjs.
 */
import type { INamespace } from 'protobufjs';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated' }>;
const msg = (fields: Fields) => ({ fields });
const f = (type: string, id: number) => ({ type, id });
const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' as const });

export const ETCD_PROTO_SCHEMA: INamespace = {
  nested: {
    walpb: {
      nested: {
        Record: msg({ type: f('int64', 1), crc: f('uint32', 2), data: f('bytes', 3) }),
        Snapshot: msg({
          index: f('uint64', 1),
          term: f('uint64', 2),
          confState: f('raftpb.ConfState', 3),
        }),
      },
    },
    snappb: {
      nested: { Snapshot: msg({ crc: f('uint32', 1), data: f('bytes', 2) }) },
    },
    raftpb: {
      nested: {
        EntryType: { values: { EntryNormal: 0, EntryConfChange: 1, EntryConfChangeV2: 2 } },
        ConfChangeType: {
          values: {
            ConfChangeAddNode: 0,
            ConfChangeRemoveNode: 1,
            ConfChangeUpdateNode: 2,
            ConfChangeAddLearnerNode: 3,
          },
        },
        ConfChangeTransition: {
          values: {
            ConfChangeTransitionAuto: 0,
            ConfChangeTransitionJointImplicit: 1,
            ConfChangeTransitionJointExplicit: 2,
          },
        },
        Entry: msg({
          type: f('EntryType', 1),
          term: f('uint64', 2),
          index: f('uint64', 3),
          data: f('bytes', 4),
        }),
        HardState: msg({ term: f('uint64', 1), vote: f('uint64', 2), commit: f('uint64', 3) }),
        ConfState: msg({
          voters: rep('uint64', 1),
          learners: rep('uint64', 2),
          votersOutgoing: rep('uint64', 3),
          learnersNext: rep('uint64', 4),
          autoLeave: f('bool', 5),
        }),
        ConfChange: msg({
          id: f('uint64', 1),
          type: f('ConfChangeType', 2),
          nodeId: f('uint64', 3),
          context: f('bytes', 4),
        }),
        ConfChangeSingle: msg({ type: f('ConfChangeType', 1), nodeId: f('uint64', 2) }),
        ConfChangeV2: msg({
          transition: f('ConfChangeTransition', 1),
          changes: rep('ConfChangeSingle', 2),
          context: f('bytes', 3),
        }),
        SnapshotMetadata: msg({ confState: f('ConfState', 1), index: f('uint64', 2), term: f('uint64', 3) }),
        Snapshot: msg({ data: f('bytes', 1), metadata: f('SnapshotMetadata', 2) }),
      },
    },
    etcdserverpb: {
      nested: {
        Metadata: msg({ nodeId: f('uint64', 1), clusterId: f('uint64', 2) }),
        // legacy v2 request (proto2)
        Request: msg({
          id: f('uint64', 1),
          method: f('string', 2),
          path: f('string', 3),
          val: f('string', 4),
          dir: f('bool', 5),
          prevValue: f('string', 6),
          prevIndex: f('uint64', 7),
          prevExist: f('bool', 8),
          expiration: f('int64', 9),
          wait: f('bool', 10),
          since: f('uint64', 11),
          recursive: f('bool', 12),
          sorted: f('bool', 13),
          quorum: f('bool', 14),
          time: f('int64', 15),
          stream: f('bool', 16),
          refresh: f('bool', 17),
        }),
        RequestHeader: msg({ id: f('uint64', 1), username: f('string', 2), authRevision: f('uint64', 3) }),
        RangeRequest: msg({
          key: f('bytes', 1),
          rangeEnd: f('bytes', 2),
          limit: f('int64', 3),
          revision: f('int64', 4),
          sortOrder: f('int32', 5),
          sortTarget: f('int32', 6),
          serializable: f('bool', 7),
          keysOnly: f('bool', 8),
          countOnly: f('bool', 9),
          minModRevision: f('int64', 10),
          maxModRevision: f('int64', 11),
          minCreateRevision: f('int64', 12),
          maxCreateRevision: f('int64', 13),
        }),
        PutRequest: msg({
          key: f('bytes', 1),
          value: f('bytes', 2),
          lease: f('int64', 3),
          prevKv: f('bool', 4),
          ignoreValue: f('bool', 5),
          ignoreLease: f('bool', 6),
        }),
        DeleteRangeRequest: msg({ key: f('bytes', 1), rangeEnd: f('bytes', 2), prevKv: f('bool', 3) }),
        RequestOp: msg({
          requestRange: f('RangeRequest', 1),
          requestPut: f('PutRequest', 2),
          requestDeleteRange: f('DeleteRangeRequest', 3),
          requestTxn: f('TxnRequest', 4),
        }),
        Compare: msg({
          result: f('int32', 1),
          target: f('int32', 2),
          key: f('bytes', 3),
          version: f('int64', 4),
          createRevision: f('int64', 5),
          modRevision: f('int64', 6),
          value: f('bytes', 7),
          lease: f('int64', 8),
          rangeEnd: f('bytes', 64),
        }),
        TxnRequest: msg({
          compare: rep('Compare', 1),
          success: rep('RequestOp', 2),
          failure: rep('RequestOp', 3),
        }),
        CompactionRequest: msg({ revision: f('int64', 1), physical: f('bool', 2) }),
        LeaseGrantRequest: msg({ ttl: f('int64', 1), id: f('int64', 2) }),
        LeaseRevokeRequest: msg({ id: f('int64', 1) }),
        LeaseCheckpoint: msg({ id: f('int64', 1), remainingTtl: f('int64', 2) }),
        LeaseCheckpointRequest: msg({ checkpoints: rep('LeaseCheckpoint', 1) }),
        AlarmRequest: msg({ action: f('int32', 1), memberId: f('uint64', 2), alarm: f('int32', 3) }),
        Empty: msg({}),
        InternalAuthenticateRequest: msg({
          name: f('string', 1),
          password: f('string', 2),
          simpleToken: f('string', 3),
        }),
        UserAddOptions: msg({ noPassword: f('bool', 1) }),
        AuthUserAddRequest: msg({
          name: f('string', 1),
          password: f('string', 2),
          options: f('UserAddOptions', 3),
          hashedPassword: f('string', 4),
        }),
        AuthNameRequest: msg({ name: f('string', 1) }),
        AuthUserChangePasswordRequest: msg({
          name: f('string', 1),
          password: f('string', 2),
          hashedPassword: f('string', 3),
        }),
        AuthUserGrantRoleRequest: msg({ user: f('string', 1), role: f('string', 2) }),
        AuthUserRevokeRoleRequest: msg({ name: f('string', 1), role: f('string', 2) }),
        AuthRoleRequest: msg({ role: f('string', 1) }),
        Permission: msg({ permType: f('int32', 1), key: f('bytes', 2), rangeEnd: f('bytes', 3) }),
        AuthRoleGrantPermissionRequest: msg({ name: f('string', 1), perm: f('Permission', 2) }),
        AuthRoleRevokePermissionRequest: msg({
          role: f('string', 1),
          key: f('bytes', 2),
          rangeEnd: f('bytes', 3),
        }),
        ClusterVersionSetRequest: msg({ ver: f('string', 1) }),
        MemberAttributes: msg({ name: f('string', 1), clientUrls: rep('string', 2) }),
        ClusterMemberAttrSetRequest: msg({
          memberId: f('uint64', 1),
          memberAttributes: f('MemberAttributes', 2),
        }),
        DowngradeInfoSetRequest: msg({ enabled: f('bool', 1), ver: f('string', 2) }),
        InternalRaftRequest: msg({
          header: f('RequestHeader', 100),
          id: f('uint64', 1),
          v2: f('Request', 2),
          range: f('RangeRequest', 3),
          put: f('PutRequest', 4),
          deleteRange: f('DeleteRangeRequest', 5),
          txn: f('TxnRequest', 6),
          compaction: f('CompactionRequest', 7),
          leaseGrant: f('LeaseGrantRequest', 8),
          leaseRevoke: f('LeaseRevokeRequest', 9),
          alarm: f('AlarmRequest', 10),
          leaseCheckpoint: f('LeaseCheckpointRequest', 11),
          authEnable: f('Empty', 1000),
          authDisable: f('Empty', 1011),
          authStatus: f('Empty', 1013),
          authenticate: f('InternalAuthenticateRequest', 1012),
          authUserAdd: f('AuthUserAddRequest', 1100),
          authUserDelete: f('AuthNameRequest', 1101),
          authUserGet: f('AuthNameRequest', 1102),
          authUserChangePassword: f('AuthUserChangePasswordRequest', 1103),
          authUserGrantRole: f('AuthUserGrantRoleRequest', 1104),
          authUserRevokeRole: f('AuthUserRevokeRoleRequest', 1105),
          authUserList: f('Empty', 1106),
          authRoleList: f('Empty', 1107),
          authRoleAdd: f('AuthNameRequest', 1200),
          authRoleDelete: f('AuthRoleRequest', 1201),
          authRoleGet: f('AuthRoleRequest', 1202),
          authRoleGrantPermission: f('AuthRoleGrantPermissionRequest', 1203),
          authRoleRevokePermission: f('AuthRoleRevokePermissionRequest', 1204),
          clusterVersionSet: f('ClusterVersionSetRequest', 1300),
          clusterMemberAttrSet: f('ClusterMemberAttrSetRequest', 1301),
          downgradeInfoSet: f('DowngradeInfoSetRequest', 1302),
        }),
      },
    },
  },
};
