/**
 * Runs `dr inspect ...` / `dr diff ...` the way a user would: through the built dist/cli/main.js once it
 * registers the commands, else through cli-launcher.mjs (the same register functions, same exit codes).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DR_MAIN, runDr, type DrResult } from '../helpers/dr.js';

const LAUNCHER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli-launcher.mjs');

function mainHasInspect(): boolean {
  try {
    return readFileSync(DR_MAIN, 'utf8').includes('./inspect.js');
  } catch {
    return false;
  }
}

export async function runInspect(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 120_000,
): Promise<DrResult> {
  if (mainHasInspect()) return runDr(args, env, timeoutMs);
  const child = spawn(process.execPath, [LAUNCHER, ...args], {
    env: { ...process.env, DR_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const stdout = Buffer.concat(out).toString('utf8');
  let json: unknown;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
  }
  return { code, stdout, stderr, json };
}
