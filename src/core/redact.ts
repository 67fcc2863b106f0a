/**
 * Strips credentials from anything that may reach a log line or an error message.
 */
const SECRET_QUERY_KEYS =
  /^(password|secret|token|accesskeyid|secretaccesskey|access_key|secret_key|sessiontoken|x-amz-credential|x-amz-signature|x-amz-security-token|sig|key)$/i;

/** Removes user:password and secret-looking query parameters from a URL string. Never throws. */
export function redactUrl(raw: string): string {
  // etcdctl-style "user:password@host:port" without a scheme: URL parsing would take "user:" for one.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && /^[^/@\s]*@/.test(raw)) {
    return raw.replace(/^[^/@\s]*@/, '***@');
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Not a URL: still hide anything that looks like user:pass@
    return raw.replace(/\/\/[^/@\s]*@/g, '//***@');
  }
  const secretParam = [...url.searchParams.entries()].some(
    ([k, v]) => SECRET_QUERY_KEYS.test(k) || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(v),
  );
  // nothing to hide: keep the caller's spelling (URL.toString would add a trailing slash)
  if (!url.username && !url.password && !secretParam) return raw;
  if (url.username || url.password) {
    url.username = url.username ? '***' : '';
    url.password = '';
  }
  for (const [key, value] of [...url.searchParams.entries()]) {
    if (SECRET_QUERY_KEYS.test(key)) url.searchParams.set(key, '***');
    // a URL inside a parameter (s3's endpoint=) may carry credentials of its own
    else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) url.searchParams.set(key, redactUrl(value));
  }
  return url.toString();
}

/**
 * Hides credentials in URLs anywhere inside a free text (a message quoting a server's or library's
 * words): `scheme://user:password@` becomes `scheme://***@`, secret query values become `***`.
 */
export function redactText(text: string): string {
  // callers pass messages of foreign errors, which are not always strings
  if (typeof text !== 'string') return text;
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s"'<>]*@/gi, '$1***@')
    .replace(
      /([?&](?:password|secret|token|accesskeyid|secretaccesskey|access_key|secret_key|sessiontoken|x-amz-credential|x-amz-signature|x-amz-security-token|sig|key)=)[^&\s"'<>]*/gi,
      '$1***',
    );
}

/** pino redact paths used by every logger dr creates. */
export const LOG_REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'secretAccessKey',
  '*.secretAccessKey',
];
