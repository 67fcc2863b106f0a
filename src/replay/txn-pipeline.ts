/**
 * Sends the replay's transactions in order with a few in flight, so that dr and etcd work side by side
 * instead of in turn, and still every revision lands on its original number (docs/revision-log.md §9).
 *
 * etcd does not keep the order of concurrent requests (Go runs the newest request's goroutine first), and a
 * revision applied out of order cannot be taken back. So a revision R sent while R-1 is still unanswered
 * is guarded: "the mod_revision of a key R-1 put equals R-1" (etcd's Compare, in the same transaction). By
 * induction the applied revisions are always a prefix of the log (an unguarded R is sent only once R-1 is
 * answered, a guarded one applies only right after R-1), so when the guard is evaluated it holds exactly
 * when R-1 is the member's newest revision. A guard that did not hold wrote nothing (no revision); the
 * transaction is sent again, unguarded, once everything before it is answered: at most one resend a revision,
 * no loop. A revision whose predecessor only deleted keys has no key to guard on: it waits for its
 * predecessor's answer.
 *
 * Answers are taken in the order sent: each must be the revision it carries, else REPLAY_DIVERGED (another
 * writer, an expired lease).
 */
import { DrError } from '../core/errors.js';
import type { TxnAnswer, TxnGuard, TxnOp } from '../etcd/types.js';

/** one transaction, unconditional or guarded (src/etcd/txn-session.ts, or the grpc-js client's) */
export type TxnCall = (ops: readonly TxnOp[], guard?: TxnGuard) => Promise<TxnAnswer>;

interface Sent {
  revision: bigint;
  ops: readonly TxnOp[];
  guarded: boolean;
  answer: Promise<TxnAnswer>;
}

function diverged(message: string, details: Record<string, unknown> = {}): DrError {
  return new DrError('REPLAY_DIVERGED', `replay: ${message}`, details);
}

export class TxnPipeline {
  private readonly sent: Sent[] = [];
  /** the newest revision the member answered (everything up to it is applied) */
  private appliedThrough: bigint;
  /** transactions sent a second time because their guard did not hold */
  resent = 0;

  constructor(
    private readonly txn: TxnCall,
    /** transactions in flight at most (1: one at a time, no guards) */
    private readonly window: number,
    /** the member's revision before the first transaction */
    fromRevision: bigint,
    private readonly onApplied: (revision: bigint) => void = () => undefined,
  ) {
    if (!(window >= 1)) throw new DrError('INTERNAL', `replay: a window of ${window} transactions`);
    this.appliedThrough = fromRevision;
  }

  get applied(): bigint {
    return this.appliedThrough;
  }

  /**
   * Sends revision `revision` (the next after the last pushed) once a slot is free. `prevPutKey`: a key
   * the previous revision put, or null when it only deleted (or is the base): then this one waits for it.
   */
  async push(revision: bigint, ops: readonly TxnOp[], prevPutKey: Uint8Array | null): Promise<void> {
    if (prevPutKey === null) await this.drain();
    while (this.sent.length >= this.window) await this.settleOldest();
    const guard =
      revision - 1n > this.appliedThrough && prevPutKey !== null
        ? { key: prevPutKey, modRevision: revision - 1n }
        : undefined;
    this.sent.push({ revision, ops, guarded: guard !== undefined, answer: this.call(ops, guard) });
  }

  /** Waits until every transaction sent is answered and applied. */
  async drain(): Promise<void> {
    while (this.sent.length > 0) await this.settleOldest();
  }

  private call(ops: readonly TxnOp[], guard?: TxnGuard): Promise<TxnAnswer> {
    const answer = this.txn(ops, guard);
    // a failure is raised when its turn comes; one after an earlier failure is never awaited
    answer.catch(() => undefined);
    return answer;
  }

  private async settleOldest(): Promise<void> {
    const head = this.sent[0]!;
    const a = await head.answer;
    if (!a.succeeded) {
      if (!head.guarded)
        throw diverged(`etcd did not apply the unconditional transaction of revision ${head.revision}`);
      // its predecessor was not yet applied when etcd evaluated the guard; it is now (answered before it)
      this.resent++;
      head.guarded = false;
      head.answer = this.call(head.ops);
      return;
    }
    if (a.revision !== head.revision)
      throw diverged(
        `revision ${head.revision} of the log became revision ${a.revision} on the replay member: something else wrote to it (an expired lease?)`,
        { expected: head.revision.toString(), got: a.revision.toString() },
      );
    this.sent.shift();
    this.appliedThrough = head.revision;
    this.onApplied(head.revision);
  }
}
