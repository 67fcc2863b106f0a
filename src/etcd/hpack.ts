/**
 * HPACK (RFC 7541) for the hand-made HTTP/2 stream, on the hpack.js library: a decoder that keeps the
 * connection's dynamic table from one header block to the next, and an encoder for the request headers.
 */
import hpack from 'hpack.js';

/** HTTP/2's default header table size (SETTINGS_HEADER_TABLE_SIZE, which we leave as it is) */
const TABLE_SIZE = 4096;

export class HpackError extends Error {}

export class HeaderBlockDecoder {
  private readonly decompressor = hpack.decompressor.create({ table: { size: TABLE_SIZE } });
  private failure: Error | null = null;

  constructor() {
    this.decompressor.on('error', (err) => {
      this.failure = err;
    });
  }

  /** The fields of one complete header block; a repeated name keeps its first value. */
  decode(block: Buffer): Map<string, string> {
    this.decompressor.write(block);
    this.decompressor.execute();
    const fields = new Map<string, string>();
    for (let f = this.decompressor.read(); f !== null; f = this.decompressor.read()) {
      if (!fields.has(f.name)) fields.set(f.name, f.value);
    }
    if (this.failure) throw new HpackError(`malformed header block: ${this.failure.message}`);
    return fields;
  }
}

/**
 * A header block for the given fields (names in lower case, pseudo-headers first), for the first and only
 * block on a connection. Fields named in `secret` are marked never-indexed, so no proxy keeps them.
 */
export function encodeHeaderBlock(fields: [name: string, value: string][], secret: string[] = []): Buffer {
  const compressor = hpack.compressor.create({ table: { size: TABLE_SIZE } });
  compressor.write(
    fields.map(([name, value]) => ({ name, value, huffman: false, neverIndex: secret.includes(name) })),
  );
  const parts: Buffer[] = [];
  for (let b = compressor.read(); b !== null; b = compressor.read()) parts.push(b);
  return Buffer.concat(parts);
}
