/**
 * Turns a gRPC failure into a DrError whose code says what the operator must fix, and whose message names
 * the endpoint. grpc-js reports TLS handshake failures as UNAVAILABLE with the OpenSSL text in `details`,
 * so the TLS case is told apart by that text.
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { DrError, type ErrorCode } from '../core/errors.js';

const TLS_TEXT =
  /handshake|ssl|tls|certificate|cert_|self[- ]signed|unable to (verify|get local issuer)|wrong version number|alert|ERR_OSSL|packet length too long|hostname\/IP does not match/i;
const AUTH_FAILED_TEXT = /authentication failed|invalid user ?id or password|user name not found/i;
const AUTH_NOT_ENABLED_TEXT = /authentication is not enabled/i;
const INVALID_TOKEN_TEXT = /invalid auth token|auth token.*expired/i;
const USER_EMPTY_TEXT = /user name is empty/i;
const PERMISSION_TEXT = /permission denied/i;

/**
 * grpc-js wraps the OpenSSL text as "No connection established. Last error: <text> (<timestamp>).
 * Resolution note: ": keep the OpenSSL reason, drop the wrapper, the timestamp and OpenSSL's source path.
 */
function condenseGrpcDetails(details: string): string {
  return details
    .replace(/^No connection established\. Last error: (Error: )?/, '')
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)\.?$/, '')
    .replace(/:[./\w-]*deps\/openssl\/[^:\s]+:\d+:/g, ':')
    .trim();
}

/** What the operator should check, from the OpenSSL reason (the reason itself follows it). */
function tlsHint(details: string): string {
  // etcd answers an untrusted or missing client certificate with alert 42 (bad certificate) or 116
  // (certificate required); etcd 3.5 (a newer Go) answers a certificate from another CA with 48 (unknown ca).
  // Each is the server's alert, received by us: the server refused what we sent.
  if (/alert unknown ca|alert number 48\b/i.test(details))
    return 'the server refused the client certificate: it is not signed by a CA the server trusts (--cert/--key)';
  // Go (etcd 3.5) sends 45 for an expired client certificate
  if (/alert certificate expired|alert number 45\b/i.test(details))
    return 'the server refused the client certificate: it has expired or is not yet valid (--cert)';
  if (/alert bad certificate|certificate required|alert number (42|116)\b/i.test(details))
    return 'the server refused the client certificate, or none was given (--cert/--key, signed by a CA the server trusts)';
  if (/unable to verify|unable to get local issuer|self[- ]signed/i.test(details))
    return 'the server certificate is not signed by the given CA (--cacert)';
  if (/hostname\/IP does not match/i.test(details))
    return "the server certificate does not name this endpoint's host";
  if (/wrong version number|packet length too long/i.test(details))
    return 'the endpoint does not speak TLS (use http:// or check the port)';
  return 'TLS handshake failed';
}

export function isGrpcError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

function detailsOf(err: unknown): string {
  if (isGrpcError(err)) return err.details || err.message;
  return err instanceof Error ? err.message : String(err);
}

/** The token expired or the member restarted and forgot it: worth one re-authentication. */
export function isInvalidTokenError(err: unknown): boolean {
  return isGrpcError(err) && INVALID_TOKEN_TEXT.test(detailsOf(err));
}

export function classifyEtcdError(err: unknown, endpoint: string, operation: string): DrError {
  if (err instanceof DrError) return err;
  const details = detailsOf(err);
  const grpcCode = isGrpcError(err) ? err.code : undefined;
  const grpcName = grpcCode === undefined ? undefined : GrpcStatus[grpcCode];
  let code: ErrorCode = 'ETCD_REQUEST_FAILED';
  let why = details;
  if (AUTH_FAILED_TEXT.test(details)) {
    code = 'ETCD_AUTH_FAILED';
    why = 'authentication failed: wrong user name or password';
  } else if (AUTH_NOT_ENABLED_TEXT.test(details)) {
    code = 'ETCD_AUTH_FAILED';
    why = 'a user was given but authentication is not enabled on this cluster';
  } else if (USER_EMPTY_TEXT.test(details)) {
    code = 'ETCD_AUTH_FAILED';
    why = 'the cluster requires authentication: give a user and password';
  } else if (grpcCode === GrpcStatus.PERMISSION_DENIED || PERMISSION_TEXT.test(details)) {
    code = 'ETCD_PERMISSION_DENIED';
    why = `permission denied (${details})`;
  } else if (grpcCode === GrpcStatus.UNAUTHENTICATED) {
    code = 'ETCD_AUTH_FAILED';
  } else if (grpcCode === GrpcStatus.UNAVAILABLE || grpcCode === undefined) {
    code = TLS_TEXT.test(details)
      ? 'ETCD_TLS_FAILED'
      : grpcCode === undefined
        ? 'ETCD_REQUEST_FAILED'
        : 'ETCD_UNREACHABLE';
    why =
      code === 'ETCD_TLS_FAILED'
        ? `${tlsHint(details)}: ${condenseGrpcDetails(details)}`
        : condenseGrpcDetails(details);
  }
  return new DrError(
    code,
    `etcd: ${operation} on ${endpoint} failed: ${why}`,
    { endpoint, operation, ...(grpcName ? { grpcStatus: grpcName } : {}) },
    { cause: err },
  );
}

export interface EndpointFailure {
  endpoint: string;
  error: DrError;
}

/**
 * One error for a request that failed on every endpoint. When every endpoint failed the same way (all TLS,
 * all auth) that code is kept: it is a configuration problem, not an outage.
 */
export function aggregateFailures(operation: string, failures: EndpointFailure[]): DrError {
  if (failures.length === 1) return failures[0]!.error;
  const codes = new Set(failures.map((f) => f.error.code));
  const code: ErrorCode = codes.size === 1 ? failures[0]!.error.code : 'ETCD_UNREACHABLE';
  const list = failures.map((f) => `${f.endpoint}: ${f.error.message}`).join('; ');
  const what =
    code === 'ETCD_UNREACHABLE' ? 'no etcd endpoint answered' : `every etcd endpoint failed (${code})`;
  return new DrError(code, `etcd: ${operation}: ${what}: ${list}`, {
    operation,
    endpoints: failures.map((f) => ({ endpoint: f.endpoint, code: f.error.code, message: f.error.message })),
  });
}
