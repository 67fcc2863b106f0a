/**
 * Runs the built `dr` (dist/cli/dr.js, the bundled bin that `npm test` builds) as a user would, and captures
 * its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const DR_MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/dr.js');
/**
 * The same CLI as tsc emits it, unbundled: for the tests that watch which packages a command loads (the
 * bundle keeps every dynamic import as a chunk of its own, but inlines the packages into them).
 */
export const DR_UNBUNDLED = path.resolve(path.dirname(DR_MAIN), 'main.js');

/** The node flags of dist/cli/dr.js's `#!/usr/bin/env -S node ...` line, so dr runs here as its bin does. */
function shebangFlags(): string[] {
  const first = readFileSync(DR_MAIN, 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
  return m?.[1] ? m[1].trim().split(/\s+/) : [];
}

export interface DrResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (when --json was passed) */
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function spawnDr(
  args: string[],
  env: Record<string, string | undefined> = {},
  bin = DR_MAIN,
): ChildProcess {
  if (!existsSync(bin)) throw new Error(`${bin} missing: run npm run build first`);
  const argv = [...shebangFlags(), bin, ...args];
  // DR_TEST_CPU_LOG=FILE: each dr run appends its CPU seconds (user, system), wall time and arguments to
  // FILE (GNU time), to see where the suite's CPU goes. Diagnostic only: signals a test sends reach time(1), not dr.
  const log = process.env.DR_TEST_CPU_LOG;
  const [cmd, cmdArgs] = log
    ? [
        '/usr/bin/time',
        [
          '-a',
          '-o',
          log,
          '-f',
          `%U %S %e ${path.relative(process.cwd(), expect.getState().testPath ?? '?')} ${args.join(' ')}`,
          process.execPath,
          ...argv,
        ],
      ]
    : [process.execPath, argv];
  return spawn(cmd, cmdArgs, {
    env: { ...process.env, DR_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function runDr(
  args: string[],
  env: Record<string, string | undefined> = {},
  timeoutMs = 120_000,
  bin = DR_MAIN,
): Promise<DrResult> {
  const child = spawnDr(args, env, bin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  let json: unknown = undefined;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(stdout);
    } catch {
      json = undefined;
    }
  }
  return { code, stdout, stderr, json };
}

/** Every file below dir (relative paths), for "nothing visible / nothing left behind" assertions. */
export function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}
