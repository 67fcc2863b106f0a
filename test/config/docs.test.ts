import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../../src/config/docs.js';

const DOCS = path.resolve(import.meta.dirname, '../../docs/config-options.md');

describe('docs/config-options.md', () => {
  it('is generated from the schema and up to date (UPDATE_DOCS=1 rewrites it)', () => {
    const generated = renderConfigDocs();
    if (process.env.UPDATE_DOCS === '1') writeFileSync(DOCS, generated);
    expect(readFileSync(DOCS, 'utf8')).toBe(generated);
  });

  it('documents every option with a description', () => {
    const rows = renderConfigDocs()
      .split('\n')
      .filter((l) => l.startsWith('| `'));
    expect(rows.length).toBeGreaterThan(50);
    for (const row of rows) {
      const cells = row.split(/(?<!\\)\|/).map((c) => c.trim());
      expect(cells[4], `description of ${cells[1]}`).not.toBe('');
    }
    const text = rows.join('\n');
    expect(text).toContain('| `policies[].compressionLevel` | integer 1..19 | `1` |');
    expect(text).toContain('| `server.listen` | string | `127.0.0.1:9464` |');
    expect(text).toContain(
      '| `policies[].alerts.staleAfterSeconds` | integer > 0 | twice the schedule interval |',
    );
  });
});
