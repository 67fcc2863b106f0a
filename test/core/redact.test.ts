import { describe, expect, it } from 'vitest';
import { redactText, redactUrl } from '../../src/core/redact.js';

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
