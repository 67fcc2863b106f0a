import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { crc32cCombine } from '../../src/formats/crc32c-combine.js';

describe('crc32cCombine', () => {
  it('equals the CRC of the concatenation, for random splits and lengths', () => {
    for (let i = 0; i < 300; i++) {
      const a = randomBytes(Math.floor(Math.random() * 5000));
      const b = randomBytes(i % 7 === 0 ? 0 : 1 + Math.floor(Math.random() * (i % 3 === 0 ? 70000 : 300)));
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(Buffer.concat([a, b])));
    }
  });

  it('chains over many parts like one running CRC seeded with 0', () => {
    const parts = Array.from({ length: 50 }, (_, i) => randomBytes(i * 37));
    let h = 0;
    for (const p of parts) h = crc32cCombine(h, crc32c(p), p.length);
    expect(h).toBe(crc32c(Buffer.concat(parts)));
  });
});
