/**
 * A structural problem met while reading a bbolt file. Readers hand each one to an `onProblem` callback:
 * `throwProblem` (the default) turns it into DrError('SNAPSHOT_INVALID'); the audit collects them instead and
 * the reader carries on past the damaged part.
 */
import { DrError } from '../../core/errors.js';

export type BboltProblemCode =
  | 'META_INVALID'
  | 'NO_VALID_META'
  | 'TRUNCATED'
  | 'PAGE_OUT_OF_BOUNDS'
  | 'PAGE_BEYOND_EOF'
  | 'PAGE_ID_MISMATCH'
  | 'PAGE_INVALID_TYPE'
  | 'PAGE_OVERFLOW_OUT_OF_BOUNDS'
  | 'PAGE_MULTIPLE_REFERENCES'
  | 'PAGE_CYCLE'
  | 'PAGE_REACHABLE_FREED'
  | 'ELEMENT_OUT_OF_BOUNDS'
  | 'LEAF_FLAGS'
  | 'EMPTY_BRANCH'
  | 'EMPTY_KEY'
  | 'KEY_ORDER'
  | 'BUCKET_HEADER_INVALID'
  | 'INLINE_PAGE_INVALID'
  | 'ROOT_ENTRY_NOT_BUCKET'
  | 'FREELIST_INVALID'
  | 'FREELIST_DUPLICATE';

export interface BboltProblem {
  code: BboltProblemCode;
  message: string;
  /** the page where the problem was found (for an inline bucket: the page holding it) */
  page?: number;
  /** absolute file offset, when known */
  offset?: number;
  /** bucket path (names as latin1/utf8 text) where the problem was found */
  bucket?: string;
}

export type ProblemHandler = (p: BboltProblem) => void;

export function describeProblem(p: BboltProblem): string {
  const where = [
    p.page !== undefined ? `page ${p.page}` : undefined,
    p.offset !== undefined ? `offset ${p.offset}` : undefined,
    p.bucket ? `bucket ${p.bucket}` : undefined,
  ].filter(Boolean);
  return `bbolt: ${p.message}${where.length ? ` (${where.join(', ')})` : ''}`;
}

export const throwProblem: ProblemHandler = (p) => {
  throw new DrError('SNAPSHOT_INVALID', describeProblem(p), {
    problem: p.code,
    page: p.page,
    offset: p.offset,
  });
};
