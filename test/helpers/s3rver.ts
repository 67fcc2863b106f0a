/**
 * A real S3 server (the npm `s3rver`) over HTTP on a free loopback port, storing into a temp directory.
 *
 * What s3rver 3.7 does and does not do (checked against its source, lib/routes.js and
 * lib/middleware/authentication.js), because tests must not assert what it cannot show:
 *  - it checks that the access key id exists (default account S3RVER/S3RVER) and answers
 *    InvalidAccessKeyId otherwise, but it does NOT verify SigV4 signatures: a wrong secret key passes;
 *  - it implements multipart upload (initiate, upload part, complete) but NOT AbortMultipartUpload
 *    (answers 405 MethodNotAllowed) nor ListMultipartUploads (501 NotImplemented); incomplete uploads
 *    stay on its disk under `<dir>/<bucket>/._S3rver_uploads/<uploadId>`; `pendingUploads()` reads them
 *    from there so a test can see what a real ListMultipartUploads would have listed;
 *  - it ignores aws-chunked payloads with trailing checksums, which the newest @aws-sdk sends by
 *    default; the s3 backend sets requestChecksumCalculation/responseChecksumValidation to
 *    WHEN_REQUIRED, which avoids them (no change to s3rver needed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

const require = createRequire(import.meta.url);
const S3RVER_BIN = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');

/** s3rver's built-in account; the s3 backend reads them from the AWS env chain. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3rverHandle {
  endpoint: string;
  port: number;
  bucket: string;
  /** Directory s3rver stores into (buckets are sub-directories). */
  dir: string;
  /** `s3://bucket/prefix?endpoint=...&region=us-east-1&forcePathStyle=true` plus extra query params. */
  url(prefix?: string, extra?: Record<string, string>): string;
  /** Upload ids of multipart uploads started and neither completed nor aborted (read from s3rver's disk). */
  pendingUploads(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Spawns s3rver serving `dir` on 127.0.0.1:`port` with one bucket; resolves once it listens. If it does
 * not start within 20 s it is killed and the promise rejects with what it printed.
 */
export async function spawnS3rver(o: {
  dir: string;
  port: number;
  bucket: string;
  verbose?: boolean;
}): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      S3RVER_BIN,
      '-d',
      o.dir,
      '-a',
      '127.0.0.1',
      '-p',
      String(o.port),
      ...(o.verbose ? [] : ['-s']),
      '--configure-bucket',
      o.bucket,
    ],
    { stdio: ['ignore', 'pipe', o.verbose ? 'inherit' : 'pipe'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${out}`)), 20_000);
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (o.verbose) process.stdout.write(d);
        if (out.includes('S3rver listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited with ${code}: ${out}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/**
 * Starts s3rver as a child process with one bucket and puts the default credentials into process.env
 * (the AWS default chain reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). stop() kills the server
 * and removes its data; the process is also killed if the test process exits first.
 *
 * Why a child process with --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation tokens
 * with DES, which OpenSSL 3 (Node >= 17) disables, so any truncated ListObjectsV2 page answers 500.
 * The flag re-enables it for the server only; the code under test runs unchanged.
 */
export async function startS3rver(bucket = 'dr-test'): Promise<S3rverHandle> {
  const { dir, cleanup } = await tempDir('dr-s3rver-');
  const port = await freePort();
  const verbose = process.env.S3RVER_VERBOSE === '1';
  let child: ChildProcess;
  try {
    child = await spawnS3rver({ dir, port, bucket, verbose });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    endpoint,
    port,
    bucket,
    dir,
    url(prefix = '', extra = {}) {
      const q = new URLSearchParams({ endpoint, region: 'us-east-1', forcePathStyle: 'true', ...extra });
      return `s3://${bucket}/${prefix}?${q.toString()}`;
    },
    async pendingUploads() {
      return findUploadDirs(path.join(dir, bucket));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      process.off('exit', killOnExit);
      await cleanup();
    },
  };
}

/** s3rver keeps each in-progress upload in `<dir>/<bucket>/._S3rver_uploads/<uploadId>/`. */
async function findUploadDirs(bucketDir: string): Promise<string[]> {
  try {
    const entries = await readdir(path.join(bucketDir, '._S3rver_uploads'), { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
