/**
 * azblob:// faults against a real Azurite over HTTP (and a closed port, and the fault proxy in front of
 * Azurite): every failure is a DrError with the right STORAGE_* code and `transient`, names what failed,
 * never prints a credential, and leaves nothing visible or staged behind. Also the credential chain's
 * other links against Azurite: a connection string and SAS tokens.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  StorageSharedKeyCredential,
  generateAccountSASQueryParameters,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrError, isDrError } from '../../src/core/errors.js';
import { openAzureBackend } from '../../src/storage/azure/azure-backend.js';
import { resolveAzureAuth } from '../../src/storage/azure/azure-credentials.js';
import { openBackend } from '../../src/storage/open-backend.js';
import { storageErrorOf } from '../../src/storage/stream-errors.js';
import { parseStorageUrl, type AzblobStorageUrl } from '../../src/storage/url.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from '../helpers/azurite.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { freePort } from '../helpers/ports.js';
import { randomBody } from './conformance.js';

const MiB = 1024 * 1024;

async function failure(p: Promise<unknown>): Promise<DrError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a DrError').toBeInstanceOf(DrError);
  return err as DrError;
}

function azUrl(s: string): AzblobStorageUrl {
  return parseStorageUrl(s) as AzblobStorageUrl;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('azblob:// faults (Azurite)', () => {
  let az: AzuriteHandle;

  beforeAll(async () => {
    az = await startAzurite('present');
  });
  afterAll(async () => {
    await az?.stop();
  });

  it('container missing: STORAGE_NOT_FOUND naming the container, for check, stat, a small and a block put', async () => {
    const b = await openAzureBackend(azUrl(az.url('x/').replace('//present/', '//no-such-container/')), {
      env: az.env,
    });
    try {
      const checked = await failure(b.check());
      expect(checked.code).toBe('STORAGE_NOT_FOUND');
      expect(checked.details.transient).toBe(false);
      expect(checked.message).toContain('container no-such-container does not exist');
      expect((await failure(b.stat('k'))).code).toBe('STORAGE_NOT_FOUND');
      expect((await failure(b.put('small', Readable.from([Buffer.from('x')])))).code).toBe(
        'STORAGE_NOT_FOUND',
      );
      const big = await failure(b.put('big', randomBody(3 * MiB).stream));
      expect(big.code).toBe('STORAGE_NOT_FOUND');
      expect(big.exitCode).toBe(3);
    } finally {
      await b.close();
    }
    expect(await az.containerClient('no-such-container').exists()).toBe(false);
  });

  it('wrong account key: STORAGE_ACCESS_DENIED, not transient, the key printed nowhere; nothing staged', async () => {
    const wrongKey = Buffer.from('definitely-not-the-key-5d1e').toString('base64');
    const b = await openAzureBackend(azUrl(az.url('denied/', { blockSizeMiB: '1' })), {
      env: { AZURE_STORAGE_KEY: wrongKey },
    });
    try {
      const checked = await failure(b.check());
      expect(checked.code).toBe('STORAGE_ACCESS_DENIED');
      expect(checked.details.transient).toBe(false);
      expect(checked.exitCode).toBe(3);
      const put = await failure(b.put('obj', randomBody(3 * MiB).stream));
      expect(put.code).toBe('STORAGE_ACCESS_DENIED');
      for (const e of [checked, put]) {
        expect(e.message + JSON.stringify(e.details)).not.toContain(wrongKey);
        expect(e.message).toContain(`at ${az.endpoint}`);
      }
    } finally {
      await b.close();
    }
    expect(await az.uncommittedBlobs('denied/')).toEqual([]);
  });

  it('closed port: STORAGE_UNREACHABLE, transient, naming the endpoint; retried by the wrapper', async () => {
    const port = await freePort();
    const url = `azblob://present/x?account=${AZURITE_ACCOUNT}&endpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}&maxAttempts=1&connectTimeoutMs=2000`;
    const b = await openBackend(url, { env: az.env, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    try {
      const err = await failure(b.check());
      expect(err.code).toBe('STORAGE_UNREACHABLE');
      expect(err.details.transient).toBe(true);
      expect(err.message).toContain(`127.0.0.1:${port}`);
      expect(err.message).toContain('ECONNREFUSED');
    } finally {
      await b.close();
    }
  });

  it('a connection the server never accepts fails on connectTimeoutMs: STORAGE_UNREACHABLE, transient', async () => {
    // a listener with a full accept queue that never accepts: further SYNs are dropped, as by a firewall
    // (Node accepts every connection itself, so python holds the socket)
    const hole = spawn(
      'python3',
      [
        '-c',
        'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const fillers: Socket[] = [];
    try {
      const port = Number(
        await new Promise<string>((resolve) =>
          hole.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())),
        ),
      );
      for (let i = 0; i < 3; i++) {
        const c = connect(port, '127.0.0.1');
        c.on('error', () => undefined);
        fillers.push(c);
      }
      await new Promise((r) => setTimeout(r, 200));
      const url = `azblob://present/x?account=${AZURITE_ACCOUNT}&endpoint=http://127.0.0.1:${port}/${AZURITE_ACCOUNT}&maxAttempts=1&connectTimeoutMs=1000&requestTimeoutMs=60000`;
      const b = await openAzureBackend(azUrl(url), { env: az.env });
      try {
        const started = Date.now();
        const err = await failure(b.check());
        expect(err.code).toBe('STORAGE_UNREACHABLE');
        expect(err.details.transient).toBe(true);
        // the connect deadline, not the 60 s answer deadline, ended it
        expect(err.message).toContain('timed out after 1000 ms');
        expect(Date.now() - started).toBeLessThan(30_000);
      } finally {
        await b.close();
      }
    } finally {
      for (const c of fillers) c.destroy();
      hole.kill();
    }
  });

  it('abort mid-upload with several blocks in flight: ABORTED, nothing visible, nothing staged', async () => {
    const b = await openAzureBackend(azUrl(az.url('abort/', { blockSizeMiB: '2', queueSize: '4' })), {
      env: az.env,
    });
    try {
      const ac = new AbortController();
      const err = await failure(
        b.put('big.bin', randomBody(64 * MiB).stream, {
          signal: ac.signal,
          onProgress: (n) => {
            if (n >= 11 * MiB) ac.abort(new Error('SIGTERM'));
          },
        }),
      );
      expect(err.code).toBe('ABORTED');
      expect((await failure(b.stat('big.bin'))).code).toBe('STORAGE_NOT_FOUND');
    } finally {
      await b.close();
    }
    expect(await az.uncommittedBlobs('abort/')).toEqual([]);
  });

  it('a failed overwrite keeps the committed blob intact (its staged blocks are left to Azure)', async () => {
    const b = await openAzureBackend(azUrl(az.url('over/', { blockSizeMiB: '1' })), { env: az.env });
    try {
      await b.put('kept', Readable.from([Buffer.from('the committed version')]));
      const boom = new Error('snapshot stream broke');
      const err = await b.put('kept', randomBody(5 * MiB, { failAt: 3 * MiB, failWith: boom }).stream).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBe(boom);
      expect(await text(await b.get('kept'))).toBe('the committed version');
      // the next put of the name replaces the staged blocks
      await b.put('kept', randomBody(3 * MiB).stream);
      expect((await b.stat('kept')).size).toBe(3 * MiB);
    } finally {
      await b.close();
    }
  });

  it('a connection string for the account works (its BlobEndpoint used); one for another account is refused', async () => {
    const cs = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${az.endpoint};`;
    const url = azUrl(`azblob://present/cs/?account=${AZURITE_ACCOUNT}`);
    const b = await openAzureBackend(url, { env: { AZURE_STORAGE_CONNECTION_STRING: cs } });
    try {
      expect(b.credentialSource).toBe('AZURE_STORAGE_CONNECTION_STRING');
      await b.put('one', Readable.from([Buffer.from('via connection string')]));
      expect(await text(await b.get('one'))).toBe('via connection string');
    } finally {
      await b.close();
    }
    const other = cs.replace(`AccountName=${AZURITE_ACCOUNT}`, 'AccountName=someoneelse');
    const err = await failure(resolveAzureAuth(url, { AZURE_STORAGE_CONNECTION_STRING: other }));
    expect(err.code).toBe('STORAGE_URL_INVALID');
    expect(err.message).toContain('someoneelse');
    expect(err.message).not.toContain(AZURITE_KEY);
    // the connection string wins over a key for the same account
    const both = await resolveAzureAuth(url, { AZURE_STORAGE_CONNECTION_STRING: cs, AZURE_STORAGE_KEY: 'x' });
    expect(both.source).toBe('AZURE_STORAGE_CONNECTION_STRING');
  });

  it('a SAS token works for what it allows; a read-only one is refused a put, its signature printed nowhere', async () => {
    const cred = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
    const sas = (permissions: string): string =>
      generateAccountSASQueryParameters(
        {
          expiresOn: new Date(Date.now() + 3600_000),
          permissions: AccountSASPermissions.parse(permissions),
          resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
          services: AccountSASServices.parse('b').toString(),
        },
        cred,
      ).toString();
    const url = azUrl(az.url('sas/', { blockSizeMiB: '1' }));
    const rw = await openAzureBackend(url, { env: { AZURE_STORAGE_SAS_TOKEN: `?${sas('rwdlc')}` } });
    try {
      expect(rw.credentialSource).toBe('AZURE_STORAGE_SAS_TOKEN');
      const body = randomBody(3 * MiB);
      await rw.put('obj', body.stream);
      const keys: string[] = [];
      for await (const o of rw.list('')) keys.push(o.key);
      expect(keys).toEqual(['obj']);
    } finally {
      await rw.close();
    }
    const roToken = sas('rl');
    const ro = await openAzureBackend(url, { env: { AZURE_STORAGE_SAS_TOKEN: roToken } });
    try {
      expect((await ro.stat('obj')).size).toBe(3 * MiB);
      const err = await failure(ro.put('denied', randomBody(3 * MiB).stream));
      expect(err.code).toBe('STORAGE_ACCESS_DENIED');
      const sig = new URLSearchParams(roToken).get('sig')!;
      expect(err.message + JSON.stringify(err.details)).not.toContain(sig);
    } finally {
      await ro.close();
    }
  });

  describe('through a fault proxy', () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy(`http://127.0.0.1:${az.port}`);
    });
    afterAll(async () => {
      await proxy?.close();
    });
    const viaProxy = (prefix: string, extra: Record<string, string> = {}): AzblobStorageUrl =>
      azUrl(
        `azblob://present/${prefix}?${new URLSearchParams({
          account: AZURITE_ACCOUNT,
          endpoint: `${proxy.endpoint}/${AZURITE_ACCOUNT}`,
          maxAttempts: '1',
          ...extra,
        }).toString()}`,
      );

    it('a 403 on the second staged block is the reported cause; the staged blocks are discarded', async () => {
      proxy.clearFaults();
      let blocks = 0;
      proxy.fault({
        match: (r) => r.method === 'PUT' && r.query.get('comp') === 'block' && ++blocks === 2,
        fault: { kind: 'status', status: 403, code: 'AuthorizationPermissionMismatch' },
        times: 1,
      });
      const b = await openAzureBackend(viaProxy('fp/', { blockSizeMiB: '1', queueSize: '1' }), {
        env: az.env,
      });
      try {
        const err = await failure(b.put('obj', randomBody(6 * MiB).stream));
        expect(err.code).toBe('STORAGE_ACCESS_DENIED');
        expect(err.details.azureCode).toBe('AuthorizationPermissionMismatch');
        expect((await failure(b.stat('obj'))).code).toBe('STORAGE_NOT_FOUND');
      } finally {
        await b.close();
      }
      expect(await az.uncommittedBlobs('fp/')).toEqual([]);
    });

    it('a server that never answers: STORAGE_UNREACHABLE on requestTimeoutMs, transient', async () => {
      proxy.clearFaults();
      proxy.fault({ match: (r) => r.method === 'GET', fault: { kind: 'stall' }, times: 1 });
      const b = await openAzureBackend(viaProxy('fp/', { requestTimeoutMs: '800' }), { env: az.env });
      try {
        const started = Date.now();
        const err = await failure(b.check());
        expect(err.code).toBe('STORAGE_UNREACHABLE');
        expect(err.details.transient).toBe(true);
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        await b.close();
      }
    });

    it('a download cut off mid-body is a storage error of the stream (storageErrorOf), not bad content', async () => {
      proxy.clearFaults();
      const b = await openAzureBackend(viaProxy('cut/'), { env: az.env });
      try {
        await b.put('obj', randomBody(4 * MiB).stream);
        proxy.fault({
          match: (r) => r.method === 'GET',
          fault: { kind: 'cut', afterBytes: 1 * MiB },
          times: 1,
        });
        const stream = await b.get('obj');
        const err = await pipeline(
          stream,
          new Writable({
            write(_c, _e, cb) {
              cb();
            },
          }),
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeDefined();
        const classified = storageErrorOf(err);
        expect(classified, String(err)).toBeDefined();
        expect(isDrError(classified)).toBe(true);
        expect(classified!.code).toBe('STORAGE_FAILED');
        expect(classified!.details.transient).toBe(true);
      } finally {
        await b.close();
      }
    });
  });
});
