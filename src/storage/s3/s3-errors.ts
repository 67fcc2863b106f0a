/**
 * Classifies AWS SDK errors into the STORAGE_* catalogue, with details.transient telling the retry
 * wrapper whether another attempt may help. S3-compatible servers differ in what they answer (HEAD
 * answers carry no body, so a 404 there has no code), hence the fallbacks on the HTTP status.
 */
import { DrError, isAbortError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';

export interface S3ErrorContext {
  op: string;
  bucket: string;
  key?: string;
  /** Already redacted. */
  endpoint: string;
}

const ACCESS_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'Forbidden',
  'CredentialsProviderError',
]);
const THROTTLE_OR_SERVER_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'RequestLimitExceeded',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ECONNABORTED',
]);
const BROKEN_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * The server does not implement the operation (501 NotImplemented, or s3rver's answer): asking again
 * will not help, and for optional operations (ListMultipartUploads) it means "not supported here".
 */
export function isNotImplemented(err: unknown): boolean {
  const e = (err ?? {}) as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return e.Code === 'NotImplemented' || e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501;
}

export function s3Error(err: unknown, ctx: S3ErrorContext): DrError {
  if (err instanceof DrError) return err;
  const where = `s3: ${ctx.op}${ctx.key !== undefined ? ` "${ctx.key}"` : ''} in bucket ${ctx.bucket} at ${ctx.endpoint}`;
  if (isAbortError(err)) return new DrError('ABORTED', `${where}: cancelled`, { transient: false });
  const e = (err ?? {}) as {
    name?: string;
    code?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const code = e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code;
  const status = e.$metadata?.httpStatusCode;
  const sysCode = e.code ?? (e as { cause?: { code?: string } }).cause?.code;
  const details = {
    bucket: ctx.bucket,
    ...(ctx.key !== undefined ? { key: ctx.key } : {}),
    endpoint: ctx.endpoint,
    ...(code ? { s3Code: code } : {}),
    ...(status ? { httpStatus: status } : {}),
  };
  const make = (c: DrError['code'], transient: boolean, what: string): DrError =>
    new DrError(c, `${where}: ${what}`, { ...details, transient }, { cause: err });

  if (code === 'NoSuchBucket') return make('STORAGE_NOT_FOUND', false, `bucket ${ctx.bucket} does not exist`);
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) {
    // HEAD answers carry no body: a 404 there may also mean the bucket is missing.
    const what =
      code === 'NoSuchKey'
        ? 'no such object'
        : ctx.key !== undefined
          ? 'not found (no such object or bucket)'
          : `bucket ${ctx.bucket} not found`;
    return make('STORAGE_NOT_FOUND', false, what);
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return new DrError(
      'STORAGE_URL_INVALID',
      `${where}: no region: add region=... to the URL or set AWS_REGION`,
      {
        ...details,
        transient: false,
      },
    );
  }
  if (code === 'CredentialsProviderError') {
    return make('STORAGE_ACCESS_DENIED', false, 'no credentials found in the AWS environment/profile chain');
  }
  if ((code && ACCESS_CODES.has(code)) || status === 403 || status === 401) {
    return make(
      'STORAGE_ACCESS_DENIED',
      false,
      `access denied (${code ?? status}): check credentials and permissions`,
    );
  }
  if (isNotImplemented(err)) {
    return make('STORAGE_FAILED', false, `the server does not implement this operation (${code ?? status})`);
  }
  if (code === 'TimeoutError' || sysCode === 'ETIMEDOUT') {
    return make('STORAGE_UNREACHABLE', true, `no answer in time (${redactText(e.message ?? String(code))})`);
  }
  if (sysCode && NETWORK_CODES.has(sysCode)) {
    return make(
      'STORAGE_UNREACHABLE',
      true,
      `endpoint unreachable (${sysCode ?? code}: ${redactText(e.message ?? '')})`,
    );
  }
  if (sysCode && BROKEN_CONNECTION_CODES.has(sysCode)) {
    return make('STORAGE_FAILED', true, `connection broken (${sysCode})`);
  }
  if (
    (code && THROTTLE_OR_SERVER_CODES.has(code)) ||
    (status !== undefined && status >= 500) ||
    status === 429
  ) {
    return make('STORAGE_FAILED', true, `server error (${code ?? status}), may succeed later`);
  }
  // the SDK's own words may quote a URL: no credential in it ever reaches a message
  return make('STORAGE_FAILED', false, `${code ?? 'error'}: ${redactText(e.message ?? String(err))}`);
}
