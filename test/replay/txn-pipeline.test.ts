/**
 * The replay's pipeline (src/replay/txn-pipeline.ts): several transactions in flight and still every
 * revision on its original number.
 *
 * Against a stand-in member that evaluates whatever is waiting newest first (what Go's scheduler mostly does
 * with requests that arrive together; deterministic here, where real etcd is not): guarded transactions taken
 * too early write nothing and are sent again, and the store ends as the one-at-a-time replay's; a revision
 * after a delete-only one waits for it (unguarded, it would take the other's number); a foreign write and an
 * unconditional transaction that etcd did not apply are REPLAY_DIVERGED.
 *
 * Against real etcd (3.5 and 3.4), through txn-session.ts with 8 in flight over 8 connections: 1,500
 * revisions of puts, several-key transactions, overwrites and delete-only revisions land with every key's
 * value, create and mod revision and version as a model of the log says, and some were sent twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import { createEtcdClient, type EtcdClient } from '../../src/etcd/client.js';
import { openTxnSession } from '../../src/etcd/txn-session.js';
import type { TxnAnswer, TxnGuard, TxnOp } from '../../src/etcd/types.js';
import { TxnPipeline } from '../../src/replay/txn-pipeline.js';
import { startTestCluster, type TestCluster } from '../helpers/etcd-cluster.js';

const put = (key: string, value = 'v'): TxnOp => ({
  type: 'put',
  key: Buffer.from(key),
  value: Buffer.from(value),
  lease: 0n,
});
const del = (key: string): TxnOp => ({ type: 'delete', key: Buffer.from(key) });

/** a member in memory: mod revision per key; requests wait until the caller yields, then run newest first */
class ReversingMember {
  rev: bigint;
  readonly mods = new Map<string, bigint>();
  private queue: { ops: readonly TxnOp[]; guard?: TxnGuard; done: (a: TxnAnswer) => void }[] = [];
  unguardedSent = 0;
  guardedSent = 0;
  /** called after each applied transaction (a test's foreign write) */
  afterApply: (rev: bigint) => void = () => undefined;
  /** an unconditional transaction it answers as not applied (a test's broken member) */
  refuseUnguarded = false;

  constructor(rev: bigint) {
    this.rev = rev;
  }

  txn = (ops: readonly TxnOp[], guard?: TxnGuard): Promise<TxnAnswer> => {
    if (guard) this.guardedSent++;
    else this.unguardedSent++;
    return new Promise((done) => {
      this.queue.push({ ops, guard, done });
      if (this.queue.length === 1) setImmediate(() => this.run());
    });
  };

  write(ops: readonly TxnOp[]): void {
    this.rev++;
    for (const o of ops) {
      const k = Buffer.from(o.key).toString();
      if (o.type === 'put') this.mods.set(k, this.rev);
      else this.mods.delete(k);
    }
    this.afterApply(this.rev);
  }

  private run(): void {
    const batch = this.queue.reverse();
    this.queue = [];
    for (const r of batch) {
      const holds = r.guard
        ? (this.mods.get(Buffer.from(r.guard.key).toString()) ?? 0n) === r.guard.modRevision
        : !this.refuseUnguarded;
      if (holds) this.write(r.ops);
      r.done({ revision: this.rev, succeeded: holds });
    }
  }
}

/** revision records: puts of one and several keys, overwrites, and delete-only revisions */
function records(n: number, prefix: string): TxnOp[][] {
  const out: TxnOp[][] = [];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 6) out.push([del(`${prefix}${(i - 3) % 40}`)]);
    else if (i % 5 === 4) out.push([put(`${prefix}${i % 40}`, `m${i}`), put(`${prefix}x${i % 3}`, `n${i}`)]);
    else out.push([put(`${prefix}${i % 40}`, `v${i}`)]);
  }
  return out;
}

const putKeyOf = (ops: readonly TxnOp[]) => ops.find((o) => o.type === 'put')?.key ?? null;

async function replay(p: TxnPipeline, from: bigint, recs: TxnOp[][]): Promise<void> {
  let prev: Uint8Array | null = null;
  let rev = from;
  for (const ops of recs) {
    await p.push(++rev, ops, prev);
    prev = putKeyOf(ops);
  }
  await p.drain();
}

/** what a one-at-a-time replay leaves: per live key its value, create and mod revision and version */
function model(from: bigint, recs: TxnOp[][]) {
  const m = new Map<string, { value: string; create: bigint; mod: bigint; version: bigint }>();
  let rev = from;
  for (const ops of recs) {
    rev++;
    for (const o of ops) {
      const k = Buffer.from(o.key).toString();
      if (o.type === 'delete') m.delete(k);
      else {
        const was = m.get(k);
        m.set(k, {
          value: Buffer.from(o.value).toString(),
          create: was?.create ?? rev,
          mod: rev,
          version: (was?.version ?? 0n) + 1n,
        });
      }
    }
  }
  return m;
}

describe('txn pipeline against a member that takes the newest request first', () => {
  it('puts every revision on its own number, sending again what was taken too early', async () => {
    const recs = records(400, '/p/');
    const member = new ReversingMember(100n);
    const applied: bigint[] = [];
    const p = new TxnPipeline(member.txn, 4, 100n, (r) => applied.push(r));
    await replay(p, 100n, recs);
    expect(member.rev).toBe(500n);
    expect(applied).toEqual(Array.from({ length: 400 }, (_, i) => 101n + BigInt(i)));
    const want = model(100n, recs);
    expect(new Map([...member.mods])).toEqual(new Map([...want].map(([k, v]) => [k, v.mod])));
    // the stand-in takes newest first: guards did fail, and each failure cost one resend, no more
    expect(p.resent).toBeGreaterThan(0);
    expect(member.unguardedSent + member.guardedSent).toBe(400 + p.resent);
  });

  it('one at a time (window 1) sends nothing guarded', async () => {
    const member = new ReversingMember(0n);
    const p = new TxnPipeline(member.txn, 1, 0n);
    await replay(p, 0n, records(50, '/w1/'));
    expect(member.guardedSent).toBe(0);
    expect(p.resent).toBe(0);
    expect(member.rev).toBe(50n);
  });

  it('a revision after a delete-only one waits for it', async () => {
    const member = new ReversingMember(10n);
    const p = new TxnPipeline(member.txn, 4, 10n);
    // unguarded and sent beside revision 12, revision 13 would be taken first and get 12's number
    await replay(p, 10n, [[put('/d/a')], [del('/d/a')], [put('/d/b')], [put('/d/c')]]);
    expect(member.rev).toBe(14n);
    expect(member.mods).toEqual(
      new Map([
        ['/d/b', 13n],
        ['/d/c', 14n],
      ]),
    );
  });

  it('REPLAY_DIVERGED when something else writes to the member between two revisions', async () => {
    const member = new ReversingMember(0n);
    member.afterApply = (rev) => {
      if (rev === 3n) {
        member.afterApply = () => undefined;
        member.write([put('/foreign')]);
      }
    };
    const p = new TxnPipeline(member.txn, 2, 0n);
    const err = await replay(p, 0n, records(20, '/f/')).catch((e: unknown) => e);
    expect(isDrError(err, 'REPLAY_DIVERGED')).toBe(true);
    expect((err as Error).message).toMatch(
      /revision \d+ of the log became revision \d+ on the replay member/,
    );
  });

  it('REPLAY_DIVERGED when etcd answers an unconditional transaction as not applied', async () => {
    const member = new ReversingMember(0n);
    member.refuseUnguarded = true;
    const p = new TxnPipeline(member.txn, 2, 0n);
    const err = await replay(p, 0n, records(3, '/u/')).catch((e: unknown) => e);
    expect(isDrError(err, 'REPLAY_DIVERGED')).toBe(true);
    expect((err as Error).message).toContain('did not apply the unconditional transaction of revision 1');
  });
});

describe('txn pipeline against real etcd, 8 in flight', () => {
  let c: TestCluster;
  let etcd: EtcdClient;
  beforeAll(async () => {
    c = await startTestCluster({ size: 1 });
    etcd = createEtcdClient({ endpoints: c.endpoints });
  });
  afterAll(async () => {
    etcd?.close();
    await c?.stop();
  });

  it('every key as the log says, though etcd took some transactions out of order', async () => {
    const ep = c.endpoints[0]!;
    const session = await openTxnSession(ep, { connections: 8 });
    try {
      const from = (await etcd.status(ep)).revision;
      const recs = records(1500, '/real/');
      const p = new TxnPipeline((ops, guard) => session.txn(ops, guard), 8, from);
      await replay(p, from, recs);
      expect((await etcd.status(ep)).revision).toBe(from + 1500n);
      const got = new Map(
        (await etcd.get('/real/', { prefix: true })).map((kv) => [
          kv.key.toString(),
          { value: kv.value.toString(), create: kv.createRevision, mod: kv.modRevision, version: kv.version },
        ]),
      );
      expect(got).toEqual(model(from, recs));
      // the guards were needed: etcd took some before their predecessor (then they wrote nothing)
      expect(p.resent).toBeGreaterThan(0);
    } finally {
      session.close();
    }
  }, 60_000);
});
