/**
 * The payload of an age file (age-encryption.org/v1): after the header, a 16-byte nonce, then the
 * plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under the payload key
 * (HKDF-SHA256 of the file key, salted with the nonce, info "payload"). A chunk's 12-byte nonce is its
 * index as an 11-byte big-endian counter followed by one flag byte, 1 on the last chunk and 0 before it;
 * so a stream cut at a chunk boundary fails to open. Only an empty plaintext has an empty last chunk.
 *
 * Why our own: the age-encryption package seals the payload in JavaScript at ~27 MiB/s on this machine
 * (docs/benchmarks.md), a 1 GiB backup ~40 s longer; node:crypto (OpenSSL) does the same work >10x
 * faster. The header (recipient stanzas, MAC) still comes from the package (age-header.ts). The format
 * is written up in docs/format.md, "Encrypted backups".
 *
 * Both classes are synchronous steps (write(piece, emit) / end(emit)), so the backup's one processing
 * step (pipeline/snapshot-encoder.ts) can seal zstd's output while it is still in cache.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { DrError } from '../core/errors.js';

export const AGE_CHUNK = 64 * 1024;
const TAG = 16;
const SEALED_CHUNK = AGE_CHUNK + TAG;
export const AGE_NONCE_SIZE = 16;
/** 11-byte counter: more chunks than that is more than any storage holds; still, refuse to wrap */
const MAX_COUNTER = 2 ** 48;

export type Emit = (piece: Buffer) => void;

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  // bytes 0..4 of the 11-byte counter stay 0: MAX_COUNTER fits in the low 6 bytes
  n.writeUIntBE(counter, 5, 6);
  n[11] = last ? 1 : 0;
  return n;
}

/** Seals a plaintext stream; emits `prefix` (the age header), the nonce, then the sealed chunks. */
export class AgePayloadEncryptor {
  private readonly key: Buffer;
  private readonly buf = Buffer.allocUnsafe(AGE_CHUNK);
  private fill = 0;
  private counter = 0;
  private started = false;

  constructor(
    fileKey: Uint8Array,
    private readonly prefix: Buffer,
    private readonly nonce: Buffer = randomBytes(AGE_NONCE_SIZE),
  ) {
    this.key = payloadKey(fileKey, nonce);
  }

  write(piece: Buffer, emit: Emit): void {
    this.start(emit);
    let off = 0;
    while (off < piece.length) {
      // a full chunk is sealed only once more data follows: the last chunk carries the flag
      if (this.fill === AGE_CHUNK) this.seal(false, emit);
      const n = Math.min(AGE_CHUNK - this.fill, piece.length - off);
      piece.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
    }
  }

  end(emit: Emit): void {
    this.start(emit);
    this.seal(true, emit);
  }

  private start(emit: Emit): void {
    if (this.started) return;
    this.started = true;
    emit(this.prefix);
    emit(this.nonce);
  }

  private seal(last: boolean, emit: Emit): void {
    if (this.counter >= MAX_COUNTER) throw new DrError('INTERNAL', 'age: payload chunk counter overflow');
    const c = createCipheriv('chacha20-poly1305', this.key, chunkNonce(this.counter, last), {
      authTagLength: TAG,
    });
    const sealed = c.update(this.buf.subarray(0, this.fill));
    c.final();
    emit(sealed);
    emit(c.getAuthTag());
    this.counter++;
    this.fill = 0;
  }
}

/**
 * Opens the sealed chunks that follow the nonce. A chunk that does not authenticate, a stream cut short,
 * or bytes after the last chunk are VERIFY_FAILED (check "decrypt"): the stored object is not what was
 * sealed with this key.
 */
export class AgePayloadDecryptor {
  private readonly key: Buffer;
  private readonly buf = Buffer.allocUnsafe(SEALED_CHUNK);
  private fill = 0;
  private counter = 0;

  constructor(
    fileKey: Uint8Array,
    nonce: Uint8Array,
    private readonly what: string,
  ) {
    this.key = payloadKey(fileKey, nonce);
  }

  write(piece: Buffer, emit: Emit): void {
    let off = 0;
    while (off < piece.length) {
      if (this.fill === SEALED_CHUNK) this.open(false, emit);
      const n = Math.min(SEALED_CHUNK - this.fill, piece.length - off);
      piece.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      off += n;
    }
  }

  end(emit: Emit): void {
    if (this.fill < TAG)
      throw this.fail(`the payload ends inside chunk ${this.counter} (${this.fill} bytes): it was cut short`);
    if (this.fill === TAG && this.counter > 0)
      throw this.fail(`chunk ${this.counter} is an empty last chunk after a full one (not valid age)`);
    this.open(true, emit);
  }

  private open(last: boolean, emit: Emit): void {
    if (this.counter >= MAX_COUNTER) throw this.fail('payload chunk counter overflow');
    const body = this.buf.subarray(0, this.fill - TAG);
    const d = createDecipheriv('chacha20-poly1305', this.key, chunkNonce(this.counter, last), {
      authTagLength: TAG,
    });
    d.setAuthTag(this.buf.subarray(this.fill - TAG, this.fill));
    const plain = d.update(body);
    try {
      d.final();
    } catch {
      throw this.fail(
        last
          ? `chunk ${this.counter} does not authenticate as the last chunk (altered, or the object was cut at a chunk boundary)`
          : `chunk ${this.counter} does not authenticate (the stored object was altered)`,
      );
    }
    emit(plain);
    this.counter++;
    this.fill = 0;
  }

  private fail(why: string): DrError {
    return new DrError('VERIFY_FAILED', `${this.what}: age payload: ${why}`, { check: 'decrypt' });
  }
}
