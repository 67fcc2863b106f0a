import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDrError } from '../../src/core/errors.js';
import type { Manifest } from '../../src/manifest/manifest.js';
import { assertSnapshotIntact } from '../../src/restore/execute.js';
import { tempDir } from '../helpers/tmp.js';

describe('assertSnapshotIntact: the check a resumed restore makes before hashing the scratch copy', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  const bytes = Buffer.from('a snapshot, as far as this check is concerned');
  const manifest = {
    id: 'b1',
    snapshot: { sha256: createHash('sha256').update(bytes).digest('hex') },
  } as unknown as Manifest;
  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(() => work.cleanup());

  it('passes an intact file, and fails a changed or missing one with VERIFY_FAILED naming the check', async () => {
    const file = path.join(work.dir, 'snap.db');
    await writeFile(file, bytes);
    await expect(assertSnapshotIntact(file, manifest)).resolves.toBeUndefined();

    const torn = Buffer.from(bytes);
    torn[3]! ^= 1;
    await writeFile(file, torn);
    const err = await assertSnapshotIntact(file, manifest).catch((e: unknown) => e);
    expect(isDrError(err, 'VERIFY_FAILED') && err.details).toMatchObject({ check: 'snapshot-sha256' });

    const gone = await assertSnapshotIntact(path.join(work.dir, 'none.db'), manifest).catch(
      (e: unknown) => e,
    );
    expect((gone as Error).message).toMatch(/is missing/);
  });
});
