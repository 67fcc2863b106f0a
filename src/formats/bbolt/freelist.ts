/**
 * The freelist page (docs/format.md §4.5), present only when meta.freelist is not all ones. etcd on Linux
 * never persists one, so this matters for files written by other bbolt users or by tools that opened an etcd
 * db read-write.
 */
import { FLAG_FREELIST, PAGE_HEADER_SIZE, pageTypeName } from './page.js';
import type { BboltDb } from './open.js';
import { throwProblem, type ProblemHandler } from './problem.js';

export interface Freelist {
  /** the freelist page itself */
  page: number;
  overflow: number;
  /** free page ids as stored */
  ids: number[];
}

/** Null when the db has no persisted freelist or it cannot be read (the problem is reported). */
export function readFreelist(db: BboltDb, onProblem: ProblemHandler = throwProblem): Freelist | null {
  const id = db.meta.freelist;
  if (id === null) return null;
  const { pageSize, pgid, endian: e, reader } = db;
  if (id < 2 || id >= pgid || (id + 1) * pageSize > db.src.size) {
    onProblem({
      code: 'FREELIST_INVALID',
      message: `freelist page ${id} is out of bounds (pgid ${pgid})`,
      page: id,
    });
    return null;
  }
  let buf = reader.pages(id, 1);
  const flags = e.u16(buf, 8);
  const overflow = e.u32(buf, 12);
  if (e.u64n(buf, 0) !== id || flags !== FLAG_FREELIST) {
    onProblem({
      code: 'FREELIST_INVALID',
      message: `freelist page ${id} has header id ${e.u64n(buf, 0)} and type ${pageTypeName(flags)}`,
      page: id,
      offset: id * pageSize,
    });
    return null;
  }
  if (id + overflow >= pgid || (id + overflow + 1) * pageSize > db.src.size) {
    onProblem({
      code: 'FREELIST_INVALID',
      message: `freelist page ${id} overflows by ${overflow} pages, past pgid ${pgid} or the end of the file`,
      page: id,
      offset: id * pageSize + 12,
    });
    return null;
  }
  if (overflow > 0) buf = reader.pages(id, overflow + 1);
  let count = e.u16(buf, 10);
  let start = PAGE_HEADER_SIZE;
  if (count === 0xffff) {
    // the real count does not fit in the u16 header field: it is the first u64 of the body
    count = e.u64n(buf, PAGE_HEADER_SIZE);
    start += 8;
  }
  const fits = Math.floor((buf.length - start) / 8);
  if (count > fits) {
    onProblem({
      code: 'FREELIST_INVALID',
      message: `freelist page ${id} claims ${count} ids but only ${fits} fit in ${overflow + 1} pages`,
      page: id,
      offset: id * pageSize + 10,
    });
    count = fits;
  }
  const ids: number[] = new Array<number>(count);
  for (let i = 0; i < count; i++) ids[i] = e.u64n(buf, start + i * 8);
  return { page: id, overflow, ids };
}
