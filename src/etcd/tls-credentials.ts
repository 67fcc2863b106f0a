/**
 * Reads the CA / client certificate / key files once, when the client is created, so a typo in a path is
 * a configuration error (exit 2) reported before any connection attempt.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { DrError } from '../core/errors.js';
import type { TlsFiles } from './types.js';

function readTlsFile(kind: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new DrError(
      'TLS_FILE_UNREADABLE',
      `etcd: cannot read the ${kind} file ${file} (${reason})`,
      { file, kind },
      { cause: err },
    );
  }
}

export function hasTlsFiles(files: TlsFiles): boolean {
  return Boolean(files.caFile || files.certFile || files.keyFile);
}

/** The PEM contents of the TLS files; null for a file not given. */
export interface TlsMaterial {
  ca: Buffer | null;
  cert: Buffer | null;
  key: Buffer | null;
}

export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  if (Boolean(files.certFile) !== Boolean(files.keyFile)) {
    throw new DrError(
      'CONFIG_INVALID',
      `etcd: a client certificate needs both --cert and --key (got only ${files.certFile ? '--cert' : '--key'})`,
    );
  }
  const ca = files.caFile ? readTlsFile('CA', files.caFile) : null;
  const cert = files.certFile ? readTlsFile('client certificate', files.certFile) : null;
  const key = files.keyFile ? readTlsFile('client key', files.keyFile) : null;
  const m = { ca, cert, key };
  checkTlsMaterial(m, files);
  return m;
}

/** OpenSSL's reason without its error-number prefix: "key values mismatch". */
function opensslReason(err: unknown): string {
  const e = err as { reason?: string; message?: string };
  return e.reason ?? String(e.message ?? err).replace(/^error:[0-9A-F]+:[^:]*:*/i, '');
}

/**
 * Loads the files into a TLS context the way the connection will, one at a time, so that a file that is
 * not PEM, or a certificate and key that do not belong together, is a configuration error naming the
 * file(s) (exit 2), before any connection and never as an internal error.
 */
function checkTlsMaterial(m: TlsMaterial, files: TlsFiles): void {
  const attempt = (opts: SecureContextOptions, what: string, details: Record<string, unknown>): void => {
    try {
      createSecureContext(opts);
    } catch (err) {
      throw new DrError('TLS_FILE_UNREADABLE', `etcd: ${what} (${opensslReason(err)})`, details, {
        cause: err,
      });
    }
  };
  if (m.ca && !m.ca.includes('-----BEGIN CERTIFICATE-----'))
    throw new DrError(
      'TLS_FILE_UNREADABLE',
      `etcd: the CA file ${files.caFile} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
      { file: files.caFile, kind: 'CA' },
    );
  if (m.ca)
    attempt({ ca: m.ca }, `the CA file ${files.caFile} holds no usable PEM certificate`, {
      file: files.caFile,
      kind: 'CA',
    });
  if (m.cert)
    attempt(
      { cert: m.cert },
      `the client certificate file ${files.certFile} holds no usable PEM certificate`,
      {
        file: files.certFile,
        kind: 'client certificate',
      },
    );
  if (m.key)
    attempt({ key: m.key }, `the client key file ${files.keyFile} holds no usable PEM private key`, {
      file: files.keyFile,
      kind: 'client key',
    });
  if (m.cert && m.key)
    attempt(
      { cert: m.cert, key: m.key },
      `the client certificate ${files.certFile} and the key ${files.keyFile} do not belong together: give the key of that certificate`,
      { certFile: files.certFile, keyFile: files.keyFile, kind: 'client certificate and key' },
    );
}

export function sslCredentials(m: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(m.ca, m.key, m.cert);
}
