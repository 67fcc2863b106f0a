import net from 'node:net';

// Why not "bind to port 0, read it, close it": the kernel hands out such ports from the ephemeral range
// (32768..60999 here), and so it does to every other worker's port-0 probe, to dr's drill and to outgoing
// connections. Between the probe's close and etcd's bind another worker could take the same port; a clean
// CI run once saw a 5-member restore refused because port 40013 was taken by a parallel test's etcd.
//
// Instead each vitest worker owns its own slice of 24000..31999: below the ephemeral range (so the
// kernel never assigns these ports on its own) and clear of the sandbox's defaults (23790..23812). Within
// its slice a worker walks forward and skips any port it cannot bind (still held by an earlier file's
// member, or TIME_WAIT without SO_REUSEADDR).
const FIRST = 24_000;
const SLICE = 1_000;
const SLICES = 8;

function sliceIndex(): number {
  const pool = Number(process.env.VITEST_POOL_ID);
  if (Number.isInteger(pool) && pool >= 1) return (pool - 1) % SLICES;
  return process.pid % SLICES;
}

const base = FIRST + sliceIndex() * SLICE;
let next = process.pid % SLICE; // a different starting point per process, should two share a slice

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A free TCP port on 127.0.0.1 from this worker's own slice (see above). */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = base + (next % SLICE);
    next++;
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port in 127.0.0.1:${base}..${base + SLICE - 1}`);
}

export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) ports.push(await freePort());
  return ports;
}
