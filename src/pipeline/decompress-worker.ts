/**
 * Worker thread body of decompress-stage.ts: zstd frames in, plain bytes out, in order, so that the fetch's
 * main thread only hashes and writes while this thread decompresses. Messages: `chunk` (compressed bytes,
 * transferred) is answered by `data` messages (1 MiB of plain bytes each, transferred) and one `ack`; `end`
 * by the last `data` and `done`, or `error` when the input stopped inside a frame. The decompression loop
 * is the one zstd-napi's DecompressStream runs, on its DCtx binding.
 */
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

/** the part of zstd-napi's native binding (its binding.d.ts) this loop uses */
interface DCtx {
  /** ZSTD_decompressStream: [return code (0 at a frame's end), bytes produced, bytes consumed] */
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}
const binding = createRequire(import.meta.url)('zstd-napi/binding') as { DCtx: new () => DCtx };
const port = parentPort!;
const dctx = new binding.DCtx();
const OUT = 1 << 20;
let out = Buffer.allocUnsafeSlow(OUT);
let used = 0;
let inFrame = false;

/** hands the filled part of `out` over (its own ArrayBuffer: allocUnsafeSlow never pools) */
function send(): void {
  if (used === 0) return;
  const ab = out.buffer;
  port.postMessage({ t: 'data', ab, n: used }, [ab]);
  out = Buffer.allocUnsafeSlow(OUT);
  used = 0;
}

port.on('message', (m: { t: 'chunk'; ab: ArrayBuffer } | { t: 'end' }) => {
  try {
    if (m.t === 'chunk') {
      let src = Buffer.from(m.ab);
      for (;;) {
        if (used === OUT) send();
        const room = OUT - used;
        const [ret, produced, consumed] = dctx.decompressStream(out.subarray(used), src);
        used += produced;
        src = src.subarray(consumed);
        // all input taken and nothing more to flush (the output did not fill up, or the frame ended)
        if (src.length === 0 && (produced < room || ret === 0)) {
          inFrame = ret !== 0;
          break;
        }
      }
      port.postMessage({ t: 'ack' });
    } else {
      send();
      port.postMessage(
        inFrame
          ? { t: 'error', message: 'the stored object ends in the middle of a zstd frame' }
          : { t: 'done' },
      );
    }
  } catch (err) {
    port.postMessage({ t: 'error', message: (err as Error).message });
  }
});
