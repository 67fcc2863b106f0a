/**
 * s3rver as a child process on a port and directory chosen by the test, so that an outage can be
 * staged: stop() kills it (connections refused), start() brings it back on the same port with the same
 * data. See test/helpers/s3rver.ts for what s3rver does and does not implement.
 */
import type { ChildProcess } from 'node:child_process';
import { S3RVER_CREDENTIALS, spawnS3rver } from '../helpers/s3rver.js';

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
      const c = await spawnS3rver({ dir, port, bucket });
      child = c;
      process.once('exit', kill);
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
