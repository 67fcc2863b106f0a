import { describe, expect, it } from 'vitest';
import {
  backupIdTime,
  dataKey,
  manifestKey,
  newBackupId,
  parseObjectKey,
  validateClusterName,
} from '../../src/manifest/layout.js';
import { isDrError } from '../../src/core/errors.js';

describe('storage layout', () => {
  it('makes ids that sort by time and parse back', () => {
    const a = newBackupId(new Date('2026-01-02T03:04:05.678Z'));
    const b = newBackupId(new Date('2026-01-02T03:04:06Z'));
    expect(a < b).toBe(true);
    expect(a).toMatch(/^20260102T030405Z-[0-9a-f]{8}$/);
    expect(backupIdTime(a)?.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('round-trips keys and ignores foreign objects', () => {
    const id = newBackupId(new Date());
    expect(parseObjectKey(dataKey('prod', id))).toEqual({ cluster: 'prod', id, kind: 'data' });
    expect(parseObjectKey(manifestKey('prod', id))).toEqual({ cluster: 'prod', id, kind: 'manifest' });
    expect(parseObjectKey(`prod/${id}.db.zst.tmp-1234`)).toBeNull();
    expect(dataKey('prod', id, true)).toBe(`prod/${id}.db.zst.age`);
    expect(parseObjectKey(dataKey('prod', id, true))).toEqual({ cluster: 'prod', id, kind: 'data' });
    expect(parseObjectKey(`prod/${id}.db.zst.age.tmp-0123456789abcdef`)).toBeNull();
    expect(parseObjectKey(`prod/${id}.db.age`)).toBeNull();
    expect(parseObjectKey(`a/b/${id}.manifest.json`)).toBeNull();
    expect(parseObjectKey('prod/notes.txt')).toBeNull();
  });

  it('rejects cluster names that would escape the layout', () => {
    for (const bad of ['', '../x', 'a/b', '-x', 'x'.repeat(64)]) {
      expect(() => validateClusterName(bad)).toThrow();
      try {
        validateClusterName(bad);
      } catch (e) {
        expect(isDrError(e, 'USAGE')).toBe(true);
      }
    }
    expect(validateClusterName('prod-eu_1.a')).toBe('prod-eu_1.a');
  });
});
