/**
 * Opening a bbolt file for reading: both metas, the current one, and a page reader sized to its page size.
 */
import type { ByteSource } from '../byte-source.js';
import { BIG, LITTLE, type Endian } from './endian.js';
import { readMetas, type MetaPage, type Metas } from './meta.js';
import { PageReader, type PageReaderOptions } from './page-reader.js';
import { throwProblem, type ProblemHandler } from './problem.js';

export interface BboltDb {
  src: ByteSource;
  metas: Metas;
  /** the meta bbolt would use */
  meta: MetaPage;
  pageSize: number;
  /** high-water mark from the current meta */
  pgid: number;
  endian: Endian;
  reader: PageReader;
  /** pgid × pageSize: what `snapshot status` calls totalSize */
  size: number;
}

/**
 * Reads the metas and prepares page access. A missing valid meta is reported through `onProblem`
 * (throws by default) and then yields null; a truncated file is reported but still opened.
 */
export function openBbolt(
  src: ByteSource,
  opts: PageReaderOptions & { onProblem?: ProblemHandler } = {},
): BboltDb | null {
  const onProblem = opts.onProblem ?? throwProblem;
  const metas = readMetas(src);
  if (metas.current === null) {
    const why = metas.metas
      .map(
        (m, i) =>
          `meta ${i}: ${m ? m.problems.join('; ') || 'valid' : 'unreadable (page size unknown or file too short)'}`,
      )
      .join('; ');
    onProblem({ code: 'NO_VALID_META', message: `no valid meta page: ${why}`, page: 0, offset: 0 });
    return null;
  }
  const meta = metas.metas[metas.current]!;
  const size = meta.pgid * meta.pageSize;
  if (src.size < size) {
    onProblem({
      code: 'TRUNCATED',
      message: `file is ${src.size} bytes, shorter than pgid ${meta.pgid} × page size ${meta.pageSize} = ${size}`,
      offset: src.size,
    });
  }
  return {
    src,
    metas,
    meta,
    pageSize: meta.pageSize,
    pgid: meta.pgid,
    endian: meta.littleEndian ? LITTLE : BIG,
    reader: new PageReader(src, meta.pageSize, opts),
    size,
  };
}
