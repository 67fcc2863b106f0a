import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactText, redactUrl } from '../../src/core/redact.js';
import { DrError } from '../../src/core/errors.js';

describe('redactUrl', () => {
  it('removes user and password', () => {
    expect(redactUrl('https://root:s3cret@10.0.0.1:2379')).toBe('https://***@10.0.0.1:2379/');
  });
  it('hides secret query parameters, also inside nested URLs', () => {
    const out = redactUrl('s3://b/p?endpoint=http%3A%2F%2Fuser%3Apw%40h%3A9000&token=abc&region=us-east-1');
    expect(out).not.toContain('pw');
    expect(out).not.toContain('abc');
    expect(out).toContain('region=us-east-1');
  });
  it('never throws on garbage and still hides user:pass@', () => {
    expect(redactUrl('not a url //u:p@host')).toBe('not a url //***@host');
  });
  it('hides user:password@ of an endpoint written without a scheme (etcdctl style)', () => {
    expect(redactUrl('root:s3cret@10.0.0.1:2379')).toBe('***@10.0.0.1:2379');
    expect(redactUrl('root:s3cret@h:notaport')).toBe('***@h:notaport');
    expect(redactUrl('10.0.0.1:2379')).toBe('10.0.0.1:2379');
  });
});

describe('redactText', () => {
  it('hides credentials of every URL inside a free text, and secret query values', () => {
    const out = redactText(
      'GET http://ak:s3cret@h:1/b?X-Amz-Signature=abcdef&x=1 failed; retried https://u:p2@other/ too',
    );
    expect(out).toBe('GET http://***@h:1/b?X-Amz-Signature=***&x=1 failed; retried https://***@other/ too');
  });
  it('leaves text without credentials alone', () => {
    const t = 's3: get "p/k" in bucket b at http://127.0.0.1:9000: connection broken (ECONNRESET)';
    expect(redactText(t)).toBe(t);
  });
});

describe('one place for every message', () => {
  it('a DrError never carries a URL credential, whoever built its message', () => {
    const err = new DrError('STORAGE_FAILED', 'put failed on https://ak:sk@minio:9000/b?token=t0k: reset');
    expect(err.message).not.toMatch(/ak:sk|t0k/);
    expect(JSON.stringify(err.toJSON())).not.toMatch(/ak:sk|t0k/);
    expect(err.message).toContain('https://***@minio:9000');
  });

  it("the log hides URL credentials in messages and in a logged error's message and stack", () => {
    const script = `
      import { createLogger } from ${JSON.stringify(path.resolve('src/core/logger.ts').replace(/\.ts$/, '.js').replace('/src/', '/dist/'))};
      const log = createLogger('info');
      log.warn('dialling http://root:pw1@10.0.0.1:2379');
      log.error({ err: new Error('GET https://u:pw2@s3.local/x failed') }, 'storage');
      log.info({ password: 'pw3' }, 'config');
      log.warn({ err: 'a string, not an Error: http://a:pw4@h:1' }, 'caught');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(r.stderr).not.toMatch(/pw1|pw2|pw3|pw4/);
    expect(JSON.parse(lines[0]!).msg).toBe('dialling http://***@10.0.0.1:2379');
    expect(JSON.parse(lines[1]!).err.message).toBe('GET https://***@s3.local/x failed');
  });
});
