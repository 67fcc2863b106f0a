/**
 * A fault-injecting HTTP proxy on loopback, in front of an S3 server (s3rver): every request is passed
 * through unchanged unless a rule matches it, and then the rule's fault happens instead:
 *
 *  - `stall`: the request is accepted (its body read) and never answered; the connection stays open;
 *  - `reset`: the connection is reset (TCP RST) once the request has arrived: the client sees ECONNRESET;
 *  - `status`: an S3 error answer (`403 AccessDenied`, `501 NotImplemented`, ...) with its XML body;
 *  - `cut`: the request goes through, the answer's headers and its first `afterBytes` body bytes are
 *    relayed, then the connection is reset (a download dropped in the middle);
 *  - `answer`: the proxy answers itself with a given status and body (an operation s3rver does not
 *    implement, such as GetBucketVersioning or GetObjectLockConfiguration for the Object Lock check).
 *
 * Rules match on the S3 operation (`op`, derived from method and query the way S3 routes them) and
 * optionally a predicate; `times` limits how often a rule fires. Every request is recorded (method, path,
 * query, headers, op, what happened), so a test can say exactly which requests were made and what they
 * carried (Object Lock and checksum headers).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type S3Op =
  | 'PutObject'
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListMultipartUploads'
  | 'ListObjectsV2'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'GetBucketVersioning'
  | 'GetObjectLockConfiguration'
  | 'Other';

export type Fault =
  | { kind: 'stall' }
  | { kind: 'reset' }
  | { kind: 'status'; status: number; code: string }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'answer'; status: number; body: string; headers?: Record<string, string> };

export interface FaultRule {
  op?: S3Op;
  match?: (r: RecordedRequest) => boolean;
  fault: Fault;
  /** How many times the rule fires. @default Infinity */
  times?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** as the client sent them (lower-case names) */
  headers: http.IncomingHttpHeaders;
  op: S3Op;
  /** 'passed', or the fault that was applied */
  outcome: 'passed' | Fault['kind'];
}

export interface FaultProxy {
  /** http://127.0.0.1:port, to use as the S3 endpoint */
  endpoint: string;
  requests: RecordedRequest[];
  /** Adds a rule; the first matching rule with firings left wins. Returns a function removing it. */
  fault(rule: FaultRule): () => void;
  clearFaults(): void;
  /** Resolves when a request matching op has met a fault (or, with outcome 'passed', went through). */
  waitFor(op: S3Op, outcome?: RecordedRequest['outcome']): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export function s3OpOf(method: string, path: string, query: URLSearchParams): S3Op {
  const isBucket = path.split('/').filter(Boolean).length <= 1;
  switch (method) {
    case 'PUT':
      return query.has('partNumber') && query.has('uploadId') ? 'UploadPart' : 'PutObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (query.has('uploadId')) return 'CompleteMultipartUpload';
      return 'Other';
    case 'DELETE':
      return query.has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'HEAD':
      return 'HeadObject';
    case 'GET':
      if (isBucket && query.has('uploads')) return 'ListMultipartUploads';
      if (isBucket && query.has('versioning')) return 'GetBucketVersioning';
      if (isBucket && query.has('object-lock')) return 'GetObjectLockConfiguration';
      if (isBucket) return 'ListObjectsV2';
      return 'GetObject';
    default:
      return 'Other';
  }
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>injected by the test's fault proxy</Message><RequestId>fault-proxy</RequestId></Error>`;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const rules: (FaultRule & { left: number })[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters: { op: S3Op; outcome?: RecordedRequest['outcome']; resolve: (r: RecordedRequest) => void }[] =
    [];
  const agent = new http.Agent({ keepAlive: false });

  const note = (r: RecordedRequest): void => {
    requests.push(r);
    for (const w of [...waiters]) {
      if (w.op === r.op && (w.outcome === undefined || w.outcome === r.outcome)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const base = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
    };
    const op = s3OpOf(base.method, base.path, base.query);
    const probe: RecordedRequest = { ...base, op, outcome: 'passed' };
    const rule = rules.find((r) => r.left > 0 && (!r.op || r.op === op) && (!r.match || r.match(probe)));
    if (rule) rule.left--;
    const fault = rule?.fault;

    if (fault && fault.kind !== 'cut') {
      // The request is read whole first, as a server would before it answers.
      req.resume();
      req.once('end', () => {
        note({ ...probe, outcome: fault.kind });
        if (fault.kind === 'stall') return; // accepted, never answered
        if (fault.kind === 'reset') {
          req.socket.resetAndDestroy();
          return;
        }
        const body = fault.kind === 'answer' ? fault.body : errorXml(fault.code);
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
          ...(fault.kind === 'answer' ? fault.headers : {}),
        });
        res.end(body);
      });
      return;
    }

    // a request passed through is recorded as it arrives: what the client asked for, whatever the server
    // then takes to answer
    if (!fault) note(probe);
    const headers = { ...req.headers, host: target.host };
    const up = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers,
        agent,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (fault?.kind === 'cut') {
          let sent = 0;
          upRes.on('data', (chunk: Buffer) => {
            if (sent >= fault.afterBytes) return;
            const part = chunk.subarray(0, fault.afterBytes - sent);
            sent += part.length;
            res.write(part);
            if (sent >= fault.afterBytes) {
              note({ ...probe, outcome: 'cut' });
              upRes.destroy();
              // flushed before the reset, so the client has the headers and the first bytes
              setTimeout(() => req.socket.resetAndDestroy(), 50);
            }
          });
          upRes.on('end', () => {
            if (sent < fault.afterBytes) {
              note({ ...probe, outcome: 'passed' });
              res.end();
            }
          });
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    fault(rule) {
      const r = { ...rule, left: rule.times ?? Infinity };
      rules.push(r);
      return () => {
        const i = rules.indexOf(r);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clearFaults() {
      rules.length = 0;
    },
    waitFor(op, outcome) {
      const seen = requests.find((r) => r.op === op && (outcome === undefined || r.outcome === outcome));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ op, ...(outcome ? { outcome } : {}), resolve }));
    },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
