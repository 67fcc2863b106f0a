/**
 * Page access over a ByteSource with a small read-ahead cache: reads are served from aligned chunks
 * (1 MiB by default, a handful kept), so walking a tree whose pages sit roughly in file order costs one
 * read per chunk instead of one per page, and memory stays bounded whatever the file size.
 *
 * Buffers handed out are never recycled: a caller may keep a page while reading others.
 */
import type { ByteSource } from '../byte-source.js';

export interface PageReaderOptions {
  /** @default 1 MiB */
  chunkSize?: number;
  /** @default 8 */
  chunks?: number;
}

export class PageReader {
  readonly src: ByteSource;
  readonly pageSize: number;
  readonly chunkSize: number;
  private readonly maxChunks: number;
  private readonly cache = new Map<number, Buffer>();

  constructor(src: ByteSource, pageSize: number, opts: PageReaderOptions = {}) {
    this.src = src;
    this.pageSize = pageSize;
    // a chunk holds whole pages
    this.chunkSize = Math.max(pageSize, Math.floor((opts.chunkSize ?? 1 << 20) / pageSize) * pageSize);
    this.maxChunks = Math.max(1, opts.chunks ?? 8);
  }

  /** Bytes [offset, offset + length), or fewer when the source ends first. */
  read(offset: number, length: number): Buffer {
    const ci = Math.floor(offset / this.chunkSize);
    const start = ci * this.chunkSize;
    if (offset + length > start + this.chunkSize) return this.src.read(offset, length);
    let chunk = this.cache.get(ci);
    if (chunk) {
      // refresh LRU position
      this.cache.delete(ci);
      this.cache.set(ci, chunk);
    } else {
      chunk = this.src.read(start, this.chunkSize);
      this.cache.set(ci, chunk);
      if (this.cache.size > this.maxChunks) {
        const oldest = this.cache.keys().next().value as number;
        this.cache.delete(oldest);
      }
    }
    const rel = offset - start;
    return chunk.subarray(Math.min(rel, chunk.length), Math.min(rel + length, chunk.length));
  }

  /** `pages` whole pages starting at page `id`. */
  pages(id: number, pages = 1): Buffer {
    return this.read(id * this.pageSize, pages * this.pageSize);
  }
}
