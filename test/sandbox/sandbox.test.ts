import { readFileSync, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdClient } from '../../src/etcd/client.js';
import { sampleObjects } from '../../src/sandbox/sample-data.js';
import { sandboxDown, sandboxStatus, sandboxUp } from '../../src/sandbox/sandbox.js';
import { isAlive, readState } from '../../src/sandbox/state.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

describe('sandbox up / status / down', () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  let dir: string;
  let ports: number[];
  const pidsSeen = new Set<number>();

  beforeAll(async () => {
    root = await tempDir('dr-sandbox-');
    dir = path.join(root.dir, '.sandbox');
    ports = await freePorts(6);
  });
  afterAll(async () => {
    await sandboxDown({ dir, removeData: true, graceMs: 2000 }).catch(() => undefined);
    // belt and braces: no etcd may outlive the test
    for (const pid of pidsSeen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await root.cleanup();
  });

  const up = () => sandboxUp({ dir, clientPorts: ports.slice(0, 3), peerPorts: ports.slice(3, 6) });

  it('starts 3 detached members with sample data', async () => {
    const r = await up();
    for (const m of r.members) pidsSeen.add(m.pid!);
    expect(r.outcome).toBe('started');
    expect(r.endpoints).toEqual(ports.slice(0, 3).map((p) => `http://127.0.0.1:${p}`));
    expect(r.members.every((m) => m.pid && isAlive(m.pid))).toBe(true);
    // each member leads its own process group: it is not killed with the command's terminal
    for (const m of r.members) {
      const stat = readFileSync(`/proc/${m.pid}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      expect(pgid).toBe(m.pid);
      expect(readFileSync(path.join(dir, `${m.name}.pid`), 'utf8').trim()).toBe(String(m.pid));
    }
    expect(r.sampleData!.keys).toBe(sampleObjects().length);
    expect(r.sampleData!.keys).toBeGreaterThan(200);

    const client = createEtcdClient({ endpoints: r.endpoints });
    try {
      const kvs = await client.get('/registry/', { prefix: true });
      expect(kvs).toHaveLength(sampleObjects().length);
      const leased = kvs.filter((kv) => kv.lease !== 0n);
      expect(new Set(leased.map((kv) => kv.lease)).size).toBe(2);
      expect(leased.some((kv) => kv.key.toString().startsWith('/registry/events/'))).toBe(true);
      const cm = kvs.find((kv) => kv.key.toString() === '/registry/configmaps/default/app-1-config')!;
      expect(JSON.parse(cm.value.toString())).toMatchObject({ kind: 'ConfigMap' });
      expect(await client.memberList()).toHaveLength(3);
    } finally {
      client.close();
    }
  });

  it('reports an already-running sandbox instead of starting another', async () => {
    const before = await readState(dir);
    const r = await up();
    expect(r.outcome).toBe('already-running');
    expect(r.members.map((m) => m.pid)).toEqual(
      await Promise.all(before!.members.map(async (m) => Number(readFileSync(m.pidFile, 'utf8')))),
    );
  });

  it('lists every member as running and healthy with one leader', async () => {
    const s = await sandboxStatus({ dir });
    expect(s.exists).toBe(true);
    expect(s.members).toHaveLength(3);
    expect(s.members.every((m) => m.running && m.healthy)).toBe(true);
    expect(s.members.filter((m) => m.isLeader)).toHaveLength(1);
  });

  it('names a port taken by another program', async () => {
    const [busy, ...others] = await freePorts(6);
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(busy, '127.0.0.1', r));
    try {
      const err = await sandboxUp({
        dir: path.join(root.dir, 'other'),
        clientPorts: [others[0]!, busy!, others[1]!],
        peerPorts: others.slice(2, 5),
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'USAGE', details: { port: busy } });
      expect((err as Error).message).toContain(`port ${busy}`);
      expect(existsSync(path.join(root.dir, 'other', 'state.json'))).toBe(false);
    } finally {
      srv.close();
    }
  });

  it('stops the members but keeps the data; up restarts them on the same data', async () => {
    const pids = (await readState(dir))!.members.map((m) => Number(readFileSync(m.pidFile, 'utf8')));
    const down = await sandboxDown({ dir });
    expect(down.stopped.map((s) => s.pid).sort()).toEqual([...pids].sort());
    expect(pids.some((p) => isAlive(p))).toBe(false);
    expect(existsSync(path.join(dir, 'sandbox-0', 'data', 'member'))).toBe(true);
    const s = await sandboxStatus({ dir });
    expect(s.members.every((m) => !m.running && !m.healthy && m.error)).toBe(true);

    const again = await up();
    for (const m of again.members) pidsSeen.add(m.pid!);
    expect(again.outcome).toBe('restarted');
    const client = createEtcdClient({ endpoints: again.endpoints });
    try {
      // the data survived and the sample data was not written a second time
      expect(await client.get('/registry/', { prefix: true })).toHaveLength(sampleObjects().length);
      const kv = (await client.get('/registry/namespaces/default'))[0]!;
      expect(kv.version).toBe(1n);
    } finally {
      client.close();
    }
  });

  it('removes the data on request but leaves files it did not make', async () => {
    await writeFile(path.join(dir, 'notes.txt'), 'mine');
    const down = await sandboxDown({ dir, removeData: true });
    expect(down.removedData).toBe(true);
    expect(existsSync(path.join(dir, 'sandbox-0'))).toBe(false);
    expect(existsSync(path.join(dir, 'state.json'))).toBe(false);
    expect(existsSync(path.join(dir, 'notes.txt'))).toBe(true);
    expect((await sandboxStatus({ dir })).exists).toBe(false);
    expect((await sandboxDown({ dir })).existed).toBe(false);
  });
});
