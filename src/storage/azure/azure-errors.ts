/**
 * Classifies @azure/storage-blob and @azure/identity errors into the STORAGE_* catalogue, with
 * details.transient telling the retry wrapper whether another attempt may help.
 *
 * The SDK throws RestError: `statusCode` for answers, `code` for the service's error code (the
 * x-ms-error-code header) or for a Node system error (ECONNREFUSED), and, for HEAD answers which carry
 * no body, the error code only in `details.errorCode`. Credential chains throw errors of their own
 * (CredentialUnavailableError, AuthenticationError) before any request is sent.
 */
import { DrError, isAbortError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';

export interface AzureErrorContext {
  op: string;
  container: string;
  /** Full blob name (prefix included). */
  blob?: string;
  /** Already redacted: the blob service URL, never a SAS token. */
  endpoint: string;
}

const ACCESS_CODES = new Set([
  'AuthenticationFailed',
  'AuthorizationFailure',
  'AuthorizationPermissionMismatch',
  'AuthorizationResourceTypeMismatch',
  'AuthorizationServiceMismatch',
  'AuthorizationProtocolMismatch',
  'AuthorizationSourceIPMismatch',
  'InsufficientAccountPermissions',
  'AccountIsDisabled',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
  'KeyBasedAuthenticationNotPermitted',
]);
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
  'AuthenticationError',
  'AggregateAuthenticationError',
]);
const SERVER_BUSY_CODES = new Set(['ServerBusy', 'OperationTimedOut', 'InternalError']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ECONNABORTED',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);
const BROKEN_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);

interface AzureLikeError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
  cause?: { code?: string };
}

/** The service's error code of a RestError (header or body), if any. */
export function azureCodeOf(err: unknown): string | undefined {
  const e = (err ?? {}) as AzureLikeError;
  const fromDetails = e.details?.errorCode;
  if (typeof fromDetails === 'string' && fromDetails) return fromDetails;
  return typeof e.code === 'string' && /^[A-Z][A-Za-z]+$/.test(e.code) ? e.code : undefined;
}

export function azureStatusOf(err: unknown): number | undefined {
  const s = (err as AzureLikeError | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * The SDK's download stream resumes a body cut off (reset, inactivity timeout) and, when its retries
 * are spent, fails with these words instead of the transport's error: a storage error, not bad content.
 */
export function isDownloadCutOff(err: unknown): boolean {
  return (
    err instanceof Error && /^Data corruption failure: received less data than required/.test(err.message)
  );
}

/**
 * A download body that ended early: the SDK's stream reports a reset as an AbortError and spent retries
 * as "received less data"; either way the transport broke (transient), the bytes are not bad.
 */
export function downloadCutOff(err: unknown, ctx: AzureErrorContext): DrError {
  return new DrError(
    'STORAGE_FAILED',
    `azblob: ${ctx.op}${ctx.blob !== undefined ? ` "${ctx.blob}"` : ''} in container ${ctx.container} at ${ctx.endpoint}: download cut off before the end (the connection broke or stalled)`,
    {
      container: ctx.container,
      ...(ctx.blob !== undefined ? { blob: ctx.blob } : {}),
      endpoint: ctx.endpoint,
      transient: true,
    },
    { cause: err },
  );
}

/** SAS signatures may appear in URLs quoted by the SDK: no credential reaches a message. */
function scrub(text: string): string {
  return redactText(text).replace(/([?&]sig=)[^&\s"'<>]*/gi, '$1***');
}

export function azureError(err: unknown, ctx: AzureErrorContext): DrError {
  if (err instanceof DrError) return err;
  const where = `azblob: ${ctx.op}${ctx.blob !== undefined ? ` "${ctx.blob}"` : ''} in container ${ctx.container} at ${ctx.endpoint}`;
  if (isAbortError(err)) return new DrError('ABORTED', `${where}: cancelled`, { transient: false });
  const e = (err ?? {}) as AzureLikeError;
  const code = azureCodeOf(err);
  const status = azureStatusOf(err);
  const sysCode =
    (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code) ? e.code : undefined) ?? e.cause?.code;
  const details = {
    container: ctx.container,
    ...(ctx.blob !== undefined ? { blob: ctx.blob } : {}),
    endpoint: ctx.endpoint,
    ...(code ? { azureCode: code } : {}),
    ...(status ? { httpStatus: status } : {}),
  };
  const make = (c: DrError['code'], transient: boolean, what: string): DrError =>
    new DrError(c, `${where}: ${what}`, { ...details, transient }, { cause: err });

  if (e.name && CREDENTIAL_ERRORS.has(e.name)) {
    return make(
      'STORAGE_ACCESS_DENIED',
      false,
      `no usable Azure credential (${e.name}): set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, or configure an Azure identity (${scrub(firstLine(e.message ?? ''))})`,
    );
  }
  if (isDownloadCutOff(err)) return downloadCutOff(err, ctx);
  if (code === 'ContainerNotFound') {
    return make('STORAGE_NOT_FOUND', false, `container ${ctx.container} does not exist`);
  }
  if (code === 'BlobNotFound' || status === 404) {
    // HEAD answers name their error only in a header, which some proxies drop.
    const what =
      code === 'BlobNotFound'
        ? 'no such blob'
        : ctx.blob !== undefined
          ? 'not found (no such blob or container)'
          : `container ${ctx.container} not found`;
    return make('STORAGE_NOT_FOUND', false, what);
  }
  if ((code && ACCESS_CODES.has(code)) || status === 401 || status === 403) {
    return make(
      'STORAGE_ACCESS_DENIED',
      false,
      `access denied (${code ?? status}): check the credential and its role on the container`,
    );
  }
  if (sysCode && TIMEOUT_CODES.has(sysCode)) {
    return make('STORAGE_UNREACHABLE', true, `no answer in time (${scrub(e.message ?? sysCode)})`);
  }
  if (sysCode && NETWORK_CODES.has(sysCode)) {
    return make('STORAGE_UNREACHABLE', true, `endpoint unreachable (${sysCode}: ${scrub(e.message ?? '')})`);
  }
  if (sysCode && BROKEN_CONNECTION_CODES.has(sysCode)) {
    return make('STORAGE_FAILED', true, `connection broken (${sysCode})`);
  }
  if (
    (code && SERVER_BUSY_CODES.has(code)) ||
    (status !== undefined && status >= 500 && status !== 501) ||
    status === 408 ||
    status === 429
  ) {
    return make('STORAGE_FAILED', true, `server error (${code ?? status}), may succeed later`);
  }
  return make(
    'STORAGE_FAILED',
    false,
    `${code ?? sysCode ?? 'error'}: ${scrub(firstLine(e.message ?? String(err)))}`,
  );
}

/** Azure's error bodies carry a request id and a time on the following lines. */
function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}
