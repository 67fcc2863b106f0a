/**
 * The reading side as one Transform: an age file in, the plaintext out. It gathers the header, has the
 * package open it with the given identities (age-header.ts), takes the 16-byte nonce, then opens the
 * payload chunk by chunk (age-stream.ts). Memory: the header (at most 64 KiB) and one sealed chunk.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { headerLength, openHeader } from './age-header.js';
import type { AgeIdentities } from './age-keys.js';
import { AGE_NONCE_SIZE, AgePayloadDecryptor } from './age-stream.js';
import { DrError } from '../core/errors.js';

export class AgeDecryptStream extends Transform {
  private head: Buffer[] = [];
  private headBytes = 0;
  private payload: AgePayloadDecryptor | null = null;
  private readonly emit$ = (b: Buffer) => {
    this.push(b);
  };

  /**
   * @param what names the object in messages ("backup <id>")
   * @param recipients the fingerprints the manifest lists, named when no identity matches
   */
  constructor(
    private readonly identities: AgeIdentities,
    private readonly what: string,
    private readonly recipients: readonly string[],
  ) {
    super({ highWaterMark: 256 << 10 });
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.payload) {
      try {
        this.payload.write(chunk, this.emit$);
      } catch (err) {
        return cb(err as Error);
      }
      return cb();
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    const all = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headBytes);
    this.head = [all];
    let len: number | null;
    try {
      len = headerLength(all, this.what);
    } catch (err) {
      return cb(err as Error);
    }
    if (len === null || all.length < len + AGE_NONCE_SIZE) return cb();
    const header = all.subarray(0, len);
    const nonce = all.subarray(len, len + AGE_NONCE_SIZE);
    const rest = all.subarray(len + AGE_NONCE_SIZE);
    this.head = [];
    openHeader(header, this.identities, this.what, this.recipients).then(
      (fileKey) => {
        try {
          this.payload = new AgePayloadDecryptor(fileKey, nonce, this.what);
          this.payload.write(rest, this.emit$);
        } catch (err) {
          return cb(err as Error);
        }
        cb();
      },
      (err: unknown) => cb(err as Error),
    );
  }

  override _flush(cb: TransformCallback): void {
    if (!this.payload)
      return cb(
        new DrError('VERIFY_FAILED', `${this.what}: the stored object ends inside its age header`, {
          check: 'decrypt',
        }),
      );
    try {
      this.payload.end(this.emit$);
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }
}
