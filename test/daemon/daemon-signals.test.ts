/**
 * `dr daemon` as a real process and SIGHUP: a refused reload does not make the daemon deaf to the next
 * ones, and a SIGHUP that arrives while the daemon is still starting is a reload request, not the end of
 * the process. No etcd is contacted (yearly schedule, --no-catch-up), so none is started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/until.js';

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'daemon-cli.mjs');
const DIST = path.resolve(process.env.DR_DIST_DIR ?? path.join(import.meta.dirname, '../../dist'));

let tmp: { dir: string; cleanup: () => Promise<void> };
const children: ChildProcess[] = [];

function startDr(args: string[]) {
  const child = spawn(process.execPath, [FIXTURE, 'daemon', ...args], {
    env: {
      ...process.env,
      DR_DIST_DIR: DIST,
      DR_LOG_LEVEL: 'info',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exited };
}

const policy = (name: string, schedule = '0 0 1 1 *') =>
  `  - name: ${name}\n    cluster: c\n    schedule: "${schedule}"\n    storage: [store]\n    verifyAfterUpload: false\n`;

function config(o: { port: number; storageUrl: string; catalog: string; policies: string }): string {
  return `clusters:
  - name: c
    endpoints: ["http://127.0.0.1:1"]
storage:
  - name: store
    url: ${JSON.stringify(o.storageUrl)}
policies:
${o.policies}
server:
  listen: 127.0.0.1:${o.port}
catalog:
  path: ${o.catalog}
`;
}

async function policiesOf(base: string): Promise<string[]> {
  const body = (await (await fetch(`${base}/api/v1/clusters`)).json()) as {
    clusters: { policies: { name: string }[] }[];
  };
  return body.clusters[0]!.policies.map((p) => p.name);
}

const count = (text: string, msg: string) => text.split(`"msg":"${msg}"`).length - 1;

beforeAll(async () => {
  if (!existsSync(path.join(DIST, 'cli', 'daemon.js')))
    throw new Error(`${DIST}/cli/daemon.js is missing: run \`npm run build\` first`);
  tmp = await tempDir('dr-daemon-sig-');
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await tmp?.cleanup();
});

describe('dr daemon and SIGHUP (process)', () => {
  it('keeps taking reloads after one was refused', async () => {
    const port = await freePort();
    const file = path.join(tmp.dir, 'refused.yaml');
    const o = {
      port,
      storageUrl: pathToFileURL(path.join(tmp.dir, 'refused-store')).href,
      catalog: path.join(tmp.dir, 'refused.sqlite'),
    };
    await writeFile(file, config({ ...o, policies: policy('first') }));
    const run = startDr(['--config', file, '--no-catch-up']);
    const base = `http://127.0.0.1:${port}`;
    await until('the API', async () => (await fetch(`${base}/healthz`)).ok);
    expect(await policiesOf(base)).toEqual(['first']);

    // A config the loader rejects at once (bad cron field): refused, the running config stays.
    await writeFile(file, config({ ...o, policies: policy('broken', '61 * * * *') }));
    run.child.kill('SIGHUP');
    await until(
      'the refusal',
      () =>
        count(run.stderr(), 'reload refused: the new config is invalid; keeping the running config') === 1,
    );
    expect(await policiesOf(base)).toEqual(['first']);

    // The next SIGHUP with a good file is taken (it used to get the settled refusal forever).
    await writeFile(file, config({ ...o, policies: policy('first') + policy('second') }));
    run.child.kill('SIGHUP');
    await until('the second policy', async () => (await policiesOf(base)).includes('second'));

    // And again: refused, then taken.
    await writeFile(file, 'clusters: [');
    run.child.kill('SIGHUP');
    await until(
      'the second refusal',
      () =>
        count(run.stderr(), 'reload refused: the new config is invalid; keeping the running config') === 2,
    );
    expect(await policiesOf(base)).toEqual(['first', 'second']);
    await writeFile(file, config({ ...o, policies: policy('third') }));
    run.child.kill('SIGHUP');
    await until('the third policy', async () => (await policiesOf(base)).join() === 'third');
    expect(count(run.stderr(), 'config reloaded')).toBe(2);

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  });

  it('a SIGHUP while the daemon is still starting is a reload, not the end of the process', async () => {
    // The start waits on the storage check (catalog sync) against a server that answers nothing until
    // released: the daemon is mid-start, before its API listens.
    const held: net.Socket[] = [];
    const blackhole = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    const s3port = (blackhole.address() as net.AddressInfo).port;
    try {
      const port = await freePort();
      const file = path.join(tmp.dir, 'early.yaml');
      const o = {
        port,
        storageUrl: `s3://bucket/p?endpoint=http://127.0.0.1:${s3port}&region=us-east-1&forcePathStyle=true&maxAttempts=1&requestTimeoutMs=120000`,
        catalog: path.join(tmp.dir, 'early.sqlite'),
      };
      await writeFile(file, config({ ...o, policies: policy('first') }));
      const run = startDr(['--config', file, '--no-catch-up']);
      await until('the storage check to start', () => held.length > 0);
      expect(run.stderr()).not.toMatch(/"msg":"http api listening"/);

      await writeFile(file, config({ ...o, policies: policy('first') + policy('added-while-starting') }));
      run.child.kill('SIGHUP');
      await until('the early reload request to be noted', () =>
        run.stderr().includes('"msg":"reload requested while starting: it runs once the daemon is up"'),
      );
      expect(run.child.exitCode).toBeNull();
      expect(run.child.signalCode).toBeNull();

      for (const s of held) s.destroy();
      blackhole.close();
      const base = `http://127.0.0.1:${port}`;
      await until('the API', async () => (await fetch(`${base}/healthz`)).ok);
      await until('the reload asked during start', async () =>
        (await policiesOf(base)).includes('added-while-starting'),
      );
      expect(run.stderr()).toMatch(
        /"msg":"catalog not synced: storage unavailable; using the cached catalog"/,
      );

      run.child.kill('SIGTERM');
      expect(await run.exited).toEqual({ code: 0, signal: null });
    } finally {
      for (const s of held) s.destroy();
      blackhole.close();
    }
  });
});
