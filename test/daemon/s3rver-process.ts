/**
 * s3rver as a child process on a port and directory chosen by the test, so that an outage can be
 * staged: stop() kills it (connections refused), start() brings it back on the same port with the same
 * data. See test/helpers/s3rver.ts for what s3rver does and does not implement.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { S3RVER_CREDENTIALS } from '../helpers/s3rver.js';

const require = createRequire(import.meta.url);
const BIN = path.join(path.dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');

export interface RestartableS3rver {
  port: number;
  url(prefix: string): string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function restartableS3rver(dir: string, port: number, bucket = 'dr-daemon'): RestartableS3rver {
  let child: ChildProcess | null = null;
  const kill = (): void => void child?.kill('SIGKILL');
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  return {
    port,
    url: (prefix) =>
      `s3://${bucket}/${prefix}?endpoint=http://127.0.0.1:${port}&region=us-east-1&forcePathStyle=true`,
    async start() {
      const c = spawn(
        process.execPath,
        [
          '--openssl-legacy-provider',
          BIN,
          '-d',
          dir,
          '-a',
          '127.0.0.1',
          '-p',
          String(port),
          '--configure-bucket',
          bucket,
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      child = c;
      process.once('exit', kill);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${out}`)), 20_000);
        c.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('S3rver listening')) {
            clearTimeout(timer);
            resolve();
          }
        });
        c.stderr?.on('data', (d: Buffer) => (out += d.toString()));
        c.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`s3rver exited with ${code}: ${out}`));
        });
      });
    },
    async stop() {
      const c = child;
      child = null;
      process.off('exit', kill);
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await exited;
    },
  };
}
