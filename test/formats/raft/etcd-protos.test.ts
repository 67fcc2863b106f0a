/**
 * The decoders and the gRPC client read etcd's vendored .proto files: the folder resolves, the messages
 * the WAL and snap decoders use carry etcd's field numbers under the project's camelCase names, and the
 * fast path's field numbers are the .proto's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { etcdServices } from '../../../src/etcd/grpc-services.js';
import {
  ETCD_PROTO_FILES,
  etcdProtoDir,
  etcdProtoIncludeDirs,
} from '../../../src/formats/raft/etcd-protos.js';
import { T, projectName } from '../../../src/formats/raft/proto.js';
import { ENTRY_FIELDS, RECORD_FIELDS, fieldNumbers } from '../../../src/formats/raft/wire.js';

const fieldsOf = (t: protobuf.Type) => Object.fromEntries(t.fieldsArray.map((f) => [f.name, f.id]));

describe('the vendored folder', () => {
  test('is found beside src/ (and so beside dist/), with the etcd version in its name', () => {
    const dir = etcdProtoDir();
    expect(path.basename(dir)).toBe('etcd-v3.5.16');
    expect(etcdProtoIncludeDirs()).toEqual([dir, path.join(dir, 'etcd')]);
    for (const f of Object.values(ETCD_PROTO_FILES))
      expect(readFileSync(path.join(dir, f), 'utf8')).toMatch(/^syntax = "proto[23]";/m);
  });

  test('the gRPC services come from its rpc.proto', () => {
    const s = etcdServices();
    expect(Object.keys(s).sort()).toEqual(['Auth', 'Cluster', 'KV', 'Lease', 'Maintenance', 'Watch']);
    expect(Object.keys(s.Maintenance.service)).toContain('Snapshot');
    expect(s.Watch.service.Watch!.requestStream && s.Watch.service.Watch!.responseStream).toBe(true);
    expect(s.KV.service.Put!.path).toBe('/etcdserverpb.KV/Put');
  });
});

describe('field names', () => {
  test.each([
    ['Term', 'term'],
    ['ID', 'id'],
    ['NodeID', 'nodeId'],
    ['node_id', 'nodeId'],
    ['memberID', 'memberId'],
    ['member_ID', 'memberId'],
    ['remaining_TTL', 'remainingTtl'],
    ['TTL', 'ttl'],
    ['PrevValue', 'prevValue'],
    ['auth_user_change_password', 'authUserChangePassword'],
    ['conf_state', 'confState'],
  ])('%s -> %s', (etcd, ours) => expect(projectName(etcd)).toBe(ours));

  test("messages carry etcd's field numbers under the projected names", () => {
    expect(fieldsOf(T.entry)).toEqual({ term: 2, index: 3, type: 1, data: 4 });
    expect(fieldsOf(T.walRecord)).toEqual({ type: 1, crc: 2, data: 3 });
    expect(fieldsOf(T.walSnapshot)).toEqual({ index: 1, term: 2, confState: 3 });
    expect(fieldsOf(T.snapSnapshot)).toEqual({ crc: 1, data: 2 });
    expect(fieldsOf(T.metadata)).toEqual({ nodeId: 1, clusterId: 2 });
    expect(fieldsOf(T.confChange)).toMatchObject({ id: 1, type: 2, nodeId: 3, context: 4 });
    const irr = fieldsOf(T.irr);
    expect(irr).toMatchObject({ header: 100, id: 1, v2: 2, put: 4, deleteRange: 5, txn: 6, leaseGrant: 8 });
    expect(irr).toMatchObject({ authUserAdd: 1100, clusterMemberAttrSet: 1301, downgradeInfoSet: 1302 });
    expect(fieldsOf(T.v2Request)).toMatchObject({ id: 1, method: 2, path: 3, prevValue: 6, refresh: 17 });
  });
});

describe('fast path field numbers', () => {
  test("are the .proto's", () => {
    expect(RECORD_FIELDS).toEqual({ type: 1, crc: 2, data: 3 });
    expect(ENTRY_FIELDS).toEqual({ type: 1, term: 2, index: 3, data: 4 });
  });

  test('refuse a field the loop would read with another wire type, or a missing one', () => {
    expect(() => fieldNumbers(T.entry, { data: 0 })).toThrow(
      /raftpb\.Entry\.data is not read as wire type 0/,
    );
    expect(() => fieldNumbers(T.walRecord, { crc: 2 })).toThrow(/wire type 2/);
    expect(() => fieldNumbers(T.entry, { nope: 0 })).toThrow(/has no field nope/);
  });
});
