/**
 * A real Azure Blob Storage emulator (the npm `azurite`, its `azurite-blob` service) over HTTP on a free
 * loopback port, storing into a temp directory, with one container.
 *
 * What Azurite 3.37 does, as far as these tests rely on it (each checked against it by a test here):
 *  - it verifies SharedKey signatures: a wrong key answers 403 AuthorizationFailure;
 *  - it keeps uncommitted blocks per blob name and lists such blobs with include=uncommittedblobs
 *    (length 0, last-modified the time of the staging); a HEAD of one answers 404;
 *  - it accepts Put Block List with If-None-Match: * and answers 409 BlobAlreadyExists when a committed
 *    blob of the name exists;
 *  - the @azure/storage-blob 12.34 SDK speaks a newer API version than Azurite knows, hence
 *    --skipApiVersionCheck.
 * Its account is the documented development account (devstoreaccount1 and its published key), which
 * is no secret.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';

const require = createRequire(import.meta.url);
const AZURITE_BLOB = path.join(
  path.dirname(require.resolve('azurite/package.json')),
  'dist',
  'src',
  'blob',
  'main.js',
);

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteHandle {
  port: number;
  /** The blob service URL, path-style: http://127.0.0.1:PORT/devstoreaccount1 */
  endpoint: string;
  container: string;
  dir: string;
  /** `azblob://container/prefix?account=devstoreaccount1&endpoint=...` plus extra query params. */
  url(prefix?: string, extra?: Record<string, string>): string;
  /** The environment that selects the shared-key credential for the development account. */
  env: Record<string, string>;
  /** A client of our own, beside the backend under test (to look at what it left). */
  containerClient(name?: string): ContainerClient;
  /** Names of blobs under prefix that have uncommitted blocks only (what a killed put leaves). */
  uncommittedBlobs(prefix?: string): Promise<string[]>;
  stop(): Promise<void>;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts azurite-blob as a child process and creates `container`. It prints nothing when it is ready,
 * so readiness is its port accepting connections (within 60 s: it is slow to start on a busy machine).
 */
export async function startAzurite(container = 'dr-test'): Promise<AzuriteHandle> {
  const { dir, cleanup } = await tempDir('dr-azurite-');
  const port = await freePort();
  let out = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      AZURITE_BLOB,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      dir,
      '--silent',
      '--skipApiVersionCheck',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stopChild = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    process.off('exit', killOnExit);
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`azurite exited with ${child.exitCode}: ${out}`);
      if (await listening(port)) break;
      if (Date.now() > deadline) throw new Error(`azurite did not start within 60 s: ${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stopChild();
    await cleanup();
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(
    endpoint,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
  await service.getContainerClient(container).create();
  const env = { AZURE_STORAGE_KEY: AZURITE_KEY };
  process.env.AZURE_STORAGE_KEY = AZURITE_KEY;
  let stopped = false;
  return {
    port,
    endpoint,
    container,
    dir,
    env,
    url(prefix = '', extra = {}) {
      const q = new URLSearchParams({ account: AZURITE_ACCOUNT, endpoint, ...extra });
      return `azblob://${container}/${prefix}?${q.toString()}`;
    },
    containerClient(name = container) {
      return service.getContainerClient(name);
    },
    async uncommittedBlobs(prefix = '') {
      const c = service.getContainerClient(container);
      const committed = new Set<string>();
      for await (const b of c.listBlobsFlat({ prefix })) committed.add(b.name);
      const out: string[] = [];
      for await (const b of c.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
        if (!committed.has(b.name)) out.push(b.name);
      }
      return out.sort();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild();
      await cleanup();
    },
  };
}
