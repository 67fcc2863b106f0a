/**
 * Random access to bytes for parsers that must follow pointers (bbolt pages). Parsers receive a
 * ByteSource and never open files themselves; the caller supplies one backed by a Buffer or by a file
 * descriptor (see src/formats/file-byte-source.ts).
 */
export interface ByteSource {
  /** total length in bytes */
  readonly size: number;
  /** Exactly `length` bytes from `offset`, or fewer when the source ends first. */
  read(offset: number, length: number): Buffer;
}

export function bufferSource(buf: Buffer): ByteSource {
  return {
    size: buf.length,
    read: (offset, length) => buf.subarray(offset, Math.min(buf.length, offset + length)),
  };
}
