import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/core/redact.js';

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
});
