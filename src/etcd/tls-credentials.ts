/**
 * Reads the CA / client certificate / key files once, when the client is created, so a typo in a path is
 * a configuration error (exit 2) reported before any connection attempt.
 */
import { readFileSync } from 'node:fs';
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
  return { ca, cert, key };
}

export function sslCredentials(m: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(m.ca, m.key, m.cert);
}
