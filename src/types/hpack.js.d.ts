// The part of hpack.js (HPACK, RFC 7541) that src/etcd/hpack.ts uses; the package ships no types.
declare module 'hpack.js' {
  interface HeaderField {
    name: string;
    value: string;
    huffman?: boolean;
    neverIndex?: boolean;
  }
  interface Decompressor {
    write(block: Buffer): boolean;
    execute(): void;
    read(): HeaderField | null;
    on(event: 'error', listener: (err: Error) => void): this;
  }
  interface Compressor {
    write(fields: HeaderField[]): boolean;
    read(): Buffer | null;
  }
  const hpack: {
    decompressor: { create(options: { table: { size: number } }): Decompressor };
    compressor: { create(options: { table: { size: number } }): Compressor };
  };
  export default hpack;
}
