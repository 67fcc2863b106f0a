/**
 * The writer's one wait: the next watch response, a timer (a segment to close, a checkpoint due), or the
 * stop signal, whichever comes first. The pending response is kept by the caller across waits, so a
 * timer never loses a message, and nothing is read from the watch while the caller is busy.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchResponse } from '../etcd/types.js';

export type Step = { kind: 'msg'; r: IteratorResult<WatchResponse> } | { kind: 'tick' } | { kind: 'stop' };

/** @param wakeInMs Infinity for no timer */
export async function nextStep(
  pending: Promise<IteratorResult<WatchResponse>>,
  wakeInMs: number,
  stop?: AbortSignal,
): Promise<Step> {
  if (stop?.aborted) return { kind: 'stop' };
  const timer = new AbortController();
  const waits: Promise<Step>[] = [pending.then((r) => ({ kind: 'msg' as const, r }))];
  if (wakeInMs !== Infinity)
    waits.push(
      sleep(Math.max(0, wakeInMs), undefined, { signal: timer.signal }).then(
        () => ({ kind: 'tick' as const }),
        () => new Promise<never>(() => undefined),
      ),
    );
  if (stop)
    waits.push(
      new Promise<Step>((resolve) =>
        stop.addEventListener('abort', () => resolve({ kind: 'stop' }), { once: true, signal: timer.signal }),
      ),
    );
  try {
    return await Promise.race(waits);
  } finally {
    timer.abort();
  }
}
