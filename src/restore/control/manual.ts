/**
 * `manual` control, the guided mode: dr prints the exact commands and waits until the operator answers
 * "done". "abort" stops the restore (the journal keeps the place for --resume); anything else asks again.
 */
import { DrError } from '../../core/errors.js';
import type { MemberControl, Prompt } from './types.js';

export function manualControl(o: {
  name: string;
  commands: (action: 'stop' | 'start') => string[];
  prompt: Prompt;
}): MemberControl {
  const ask = async (action: 'stop' | 'start', signal?: AbortSignal) => {
    const text =
      `${action === 'stop' ? 'Stop' : 'Start'} member ${o.name} now:\n` +
      o
        .commands(action)
        .map((c) => `    ${c}`)
        .join('\n') +
      `\nType "done" when it is ${action === 'stop' ? 'stopped' : 'started'}, or "abort": `;
    for (;;) {
      signal?.throwIfAborted();
      const answer = (await o.prompt(text, signal)).trim().toLowerCase();
      if (answer === 'done' || answer === 'yes' || answer === 'y') return;
      if (answer === 'abort' || answer === 'no' || answer === 'n') {
        throw new DrError('ABORTED', `restore: the operator aborted at "${action} ${o.name}"`);
      }
    }
  };
  return {
    type: 'manual',
    check: async () => ({ ok: true, detail: 'the operator stops and starts it' }),
    stop: (signal) => ask('stop', signal),
    start: (signal) => ask('start', signal),
  };
}
