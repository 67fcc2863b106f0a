/**
 * Progress for long transfers: a bar with bytes and rate on a TTY (stderr), nothing otherwise.
 */
import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import { formatBytes } from './output.js';

// loaded only for a TTY: under systemd or cron there is no bar to draw
const require = createRequire(import.meta.url);

export interface Progress {
  update(bytes: number, total?: number): void;
  stop(): void;
}

export function createProgress(label: string): Progress {
  if (!process.stderr.isTTY) return { update: () => undefined, stop: () => undefined };
  const cliProgress = require('cli-progress') as typeof CliProgress;
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {done} / {all}  {rate}/s`,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let begun = false;
  return {
    update(bytes, total) {
      const all = Math.max(total ?? bytes, bytes);
      const rate = bytes / Math.max(0.001, (Date.now() - started) / 1000);
      const payload = {
        done: formatBytes(bytes),
        all: total ? formatBytes(all) : '?',
        rate: formatBytes(rate),
      };
      if (!begun) {
        bar.start(all, bytes, payload);
        begun = true;
      } else {
        bar.setTotal(all);
        bar.update(bytes, payload);
      }
    },
    stop() {
      if (begun) bar.stop();
    },
  };
}
