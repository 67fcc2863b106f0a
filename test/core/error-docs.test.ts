/**
 * The error catalogue, the README and the exit-code contract stay in step (fastify's habit). Regenerate the
 * README table with UPDATE_DOCS=1.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderErrorTable } from '../../src/core/error-docs.js';
import { DrError, ERROR_CATALOGUE, EXIT, toDrError } from '../../src/core/errors.js';

const README = path.resolve(import.meta.dirname, '../../README.md');
const START = '<!-- errors:start -->';
const END = '<!-- errors:end -->';

describe('error catalogue', () => {
  it('README lists every code with its exit code and HTTP status', () => {
    const text = readFileSync(README, 'utf8');
    const i = text.indexOf(START);
    const j = text.indexOf(END);
    expect(i, 'README has the errors markers').toBeGreaterThan(0);
    const fresh = `${START}\n${renderErrorTable()}\n${END}`;
    if (process.env.UPDATE_DOCS === '1')
      writeFileSync(README, text.slice(0, i) + fresh + text.slice(j + END.length));
    else expect(text.slice(i, j + END.length)).toBe(fresh);
  });

  it('uses only the documented exit codes', () => {
    const allowed = new Set(Object.values(EXIT));
    for (const [code, e] of Object.entries(ERROR_CATALOGUE)) expect(allowed.has(e.exit), code).toBe(true);
  });

  it('maps codes to exits and wraps unknown errors as INTERNAL (exit 3) without losing the message', () => {
    expect(new DrError('VERIFY_FAILED', 'x').exitCode).toBe(1);
    expect(new DrError('USAGE', 'x').exitCode).toBe(2);
    expect(new DrError('ETCD_UNREACHABLE', 'x').exitCode).toBe(3);
    const e = toDrError(new Error('boom'), 'INTERNAL', 'ctx');
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toBe('ctx: boom');
    const abort = new Error('stop');
    abort.name = 'AbortError';
    expect(toDrError(abort).code).toBe('ABORTED');
  });
});
