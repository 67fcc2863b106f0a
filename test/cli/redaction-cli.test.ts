/**
 * Credentials in any URL a user passes (etcd endpoints with or without a scheme, storage URLs and the
 * endpoint nested in them) never come back in an error message, human or --json.
 */
import { describe, expect, it } from 'vitest';
import { runDr } from '../helpers/dr.js';

const SECRET = 'pw-7f3a9c';

describe('credentials in URLs are redacted in every message', () => {
  const cases: [string, string[]][] = [
    [
      'an etcdctl-style endpoint with user:password@ and a bad port',
      ['--endpoints', `root:${SECRET}@h:port`],
    ],
    ['an endpoint with user:password@ and a scheme', ['--endpoints', `http://root:${SECRET}@[::1`]],
    ['one bad endpoint among good ones', ['--endpoints', `127.0.0.1:2379,root:${SECRET}@127.0.0.1:2380`]],
    [
      'a storage URL with user:password@',
      ['--endpoints', '127.0.0.1:1', '--storage', `s3://ak:${SECRET}@bucket/p`],
    ],
    [
      "credentials in the storage URL's endpoint",
      ['--endpoints', '127.0.0.1:1', '--storage', `s3://bucket/p?endpoint=http://ak:${SECRET}@h:9000`],
    ],
  ];
  for (const [what, args] of cases) {
    for (const json of [false, true]) {
      it(`${what}${json ? ' (--json)' : ''}: exit 2, the password printed nowhere`, async () => {
        const r = await runDr(
          ['backup', ...args, '--dial-timeout', '500', ...(json ? ['--json'] : [])],
          { DR_STORAGE: 'file:///nonexistent-dr-test', DR_CATALOG: '/nonexistent-dr-test/c.sqlite' },
          30_000,
        );
        expect(r.code).toBe(2);
        expect(r.stdout + r.stderr).not.toContain(SECRET);
        expect(r.stdout + r.stderr).toContain('***');
      });
    }
  }
});
