/**
 * Txn calls over HTTP/2 connections of Node's own (`node:http2`), for the point-in-time replay
 * (src/replay/txn-pipeline.ts): it writes one transaction per original revision, a few in flight, each
 * guarded on its predecessor, over a connection per slot (consecutive requests on different connections are
 * read by different etcd goroutines, which keeps more of them in the order sent; docs/benchmarks.md,
 * "Point-in-time replay, session 12").
 *
 * Why not grpc-js: measured on the replay's own path (100,000 1 KiB puts, one at a time, etcd 3.5 with
 * --unsafe-no-fsync on loopback, 2 cores), grpc-js spends ~245 µs of CPU a call and reaches ~2,500-3,000
 * revisions/s; this ~125 µs and ~4,000-4,300 (docs/benchmarks.md, "Point-in-time replay"). Only for the
 * throwaway member dr starts itself, on a Unix socket in a private directory (plain, or TLS with a client
 * certificate when the data has etcd auth enabled: src/replay/replay-member.ts); no token. Everything else
 * stays on grpc-js. Failures are raised in grpc-js's shape ({ code, details }), so classify-error.ts reads them.
 */
import http2 from 'node:http2';
import type protobuf from 'protobufjs';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { DrError } from '../core/errors.js';
import { ETCD_PROTO_FILES, loadEtcdProtos } from '../formats/raft/etcd-protos.js';
import { classifyEtcdError } from './classify-error.js';
import { parseEndpoint } from './endpoint.js';
import { connectH2 } from './h2-connect.js';
import type { TlsMaterial } from './tls-credentials.js';
import { txnRequest, type TxnAnswer, type TxnGuard, type TxnOp } from './types.js';

export interface TxnSession {
  /** one transaction, unconditional or guarded; calls may overlap (each goes on the next connection) */
  txn(ops: readonly TxnOp[], guard?: TxnGuard): Promise<TxnAnswer>;
  close(): void;
}

let types: { req: protobuf.Type; res: protobuf.Type } | undefined;

function txnTypes(): { req: protobuf.Type; res: protobuf.Type } {
  if (types) return types;
  const root = loadEtcdProtos([ETCD_PROTO_FILES.rpc]);
  return (types = {
    req: root.lookupType('etcdserverpb.TxnRequest'),
    res: root.lookupType('etcdserverpb.TxnResponse'),
  });
}

const CONNECT_TIMEOUT_MS = 10_000;

class CallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${GrpcStatus[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

async function connect(
  ep: ReturnType<typeof parseEndpoint>,
  clientUrl: string,
  tls: TlsMaterial | undefined,
): Promise<{ session: http2.ClientHttp2Session; authority: string }> {
  const { session, authority } = connectH2({ ...ep, tls });
  session.on('error', () => undefined); // each call reports its own failure
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      session.destroy();
      reject(
        classifyEtcdError(
          new CallError(GrpcStatus.UNAVAILABLE, `no connection within ${CONNECT_TIMEOUT_MS} ms`),
          clientUrl,
          'KV.Txn',
        ),
      );
    }, CONNECT_TIMEOUT_MS);
    session.once('connect', () => {
      clearTimeout(t);
      resolve();
    });
    session.once('error', (err: Error) => {
      clearTimeout(t);
      reject(classifyEtcdError(new CallError(GrpcStatus.UNAVAILABLE, err.message), clientUrl, 'KV.Txn'));
    });
  });
  return { session, authority };
}

interface InFlight {
  stream: http2.ClientHttp2Stream;
  started: number;
  fail: (code: number, details: string) => void;
}

/**
 * A session to one endpoint (http://, https://, unix://, unixs://; TLS with the given material) over
 * `connections` HTTP/2 connections (default 1), used in turn.
 */
export async function openTxnSession(
  clientUrl: string,
  o: { timeoutMs?: number; tls?: TlsMaterial; connections?: number } = {},
): Promise<TxnSession> {
  const ep = parseEndpoint(clientUrl, false);
  if (ep.secure && !o.tls)
    throw new DrError('INTERNAL', `txn session: ${clientUrl} is TLS and no TLS material was given`);
  const { req: Req, res: Res } = txnTypes();
  const timeoutMs = o.timeoutMs ?? 120_000;
  const opened = await Promise.allSettled(
    Array.from({ length: Math.max(1, o.connections ?? 1) }, () => connect(ep, clientUrl, o.tls)),
  );
  const conns = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = opened.find((r) => r.status === 'rejected');
  if (refused) {
    for (const c of conns) c.session.destroy();
    throw refused.reason;
  }
  let turn = 0;
  const inFlight = new Set<InFlight>();
  // one watchdog for the session, not a timer per call (a timer a call measured as a few per cent of the replay)
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const call of inFlight) {
      if (now - call.started < timeoutMs) continue;
      inFlight.delete(call);
      call.stream.close(http2.constants.NGHTTP2_CANCEL);
      call.fail(GrpcStatus.DEADLINE_EXCEEDED, `no answer within ${timeoutMs} ms`);
    }
  }, 1000);
  watchdog.unref();
  const txn = (ops: readonly TxnOp[], guard?: TxnGuard): Promise<TxnAnswer> => {
    const { session, authority } = conns[turn]!;
    turn = (turn + 1) % conns.length;
    const body = Req.encode(txnRequest(ops, guard)).finish();
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    return new Promise<TxnAnswer>((resolve, reject) => {
      const fail = (code: number, details: string) =>
        reject(classifyEtcdError(new CallError(code, details), clientUrl, 'KV.Txn'));
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({
          ':method': 'POST',
          ':path': '/etcdserverpb.KV/Txn',
          ':authority': authority,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
      } catch (err) {
        // the connection is gone (the member died): Node refuses a new stream at once
        return fail(GrpcStatus.UNAVAILABLE, (err as Error).message);
      }
      const call: InFlight = { stream, started: Date.now(), fail };
      inFlight.add(call);
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = '';
      stream.on('response', (h) => {
        // an error without a body comes as headers only ("trailers-only")
        if (h['grpc-status'] !== undefined) {
          status = String(h['grpc-status']);
          message = decodeURIComponent(String(h['grpc-message'] ?? ''));
        }
      });
      stream.on('trailers', (t: http2.IncomingHttpHeaders) => {
        status = String(t['grpc-status']);
        message = decodeURIComponent(String(t['grpc-message'] ?? ''));
      });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err: Error) => {
        inFlight.delete(call);
        fail(GrpcStatus.UNAVAILABLE, err.message);
      });
      stream.on('end', () => {
        inFlight.delete(call);
        if (status !== '0') return fail(Number(status ?? GrpcStatus.UNKNOWN), message || 'no grpc-status');
        const b = Buffer.concat(chunks);
        if (b.length < 5 || b.readUInt32BE(1) !== b.length - 5)
          return fail(GrpcStatus.INTERNAL, `a Txn answer of ${b.length} bytes is not one gRPC message`);
        const r = Res.decode(b.subarray(5)) as unknown as {
          header?: { revision?: { toString(): string } };
          succeeded?: boolean;
        };
        resolve({ revision: BigInt(r.header?.revision?.toString() ?? '0'), succeeded: r.succeeded === true });
      });
      stream.end(frame);
    });
  };
  return {
    txn,
    close: () => {
      clearInterval(watchdog);
      for (const c of conns) c.session.close();
    },
  };
}
