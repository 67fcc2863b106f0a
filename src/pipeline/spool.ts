import { open, type FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Writes every chunk to a local file before passing it on, so that the bbolt reader can walk the complete
 * snapshot (it needs random access) once the stream ends. Backpressure is kept: a chunk moves on only after
 * it has been written.
 */
export class Spool extends Transform {
  private handle: FileHandle | null = null;
  private position = 0;

  constructor(readonly path: string) {
    super();
  }

  override _construct(cb: (err?: Error | null) => void): void {
    open(this.path, 'wx', 0o600).then(
      (h) => {
        this.handle = h;
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.handle!.write(chunk, 0, chunk.length, this.position).then(
      () => {
        this.position += chunk.length;
        cb(null, chunk);
      },
      (err: Error) => cb(err),
    );
  }

  override _flush(cb: TransformCallback): void {
    this.handle!.close().then(
      () => {
        this.handle = null;
        cb();
      },
      (err: Error) => cb(err),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const h = this.handle;
    this.handle = null;
    if (!h) return cb(err);
    h.close().then(
      () => cb(err),
      () => cb(err),
    );
  }
}
