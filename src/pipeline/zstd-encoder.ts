/**
 * Streaming zstd compression on zstd-napi's documented low-level binding (ZSTD_compressStream2), writing
 * into slabs that are handed out piece by piece: compressed output is pushed as slices of a 256 KiB slab,
 * and a new slab is taken only when the current one is nearly full. zstd-napi's CompressStream allocates
 * a fresh 128 KiB buffer for every output it produces, however small; at gigabytes that allocation churn
 * is what kept V8's garbage collector busiest.
 *
 * Why 256 KiB and not 1 MiB: a 1 MiB slab stays referenced until it is full and written, long enough to
 * outlive two scavenges and be promoted, and promoted buffers are freed only by full collections (figures:
 * docs/benchmarks.md, "Figures behind design choices in the code").
 */
import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';

const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;
const { CParameter, EndDirective } = binding;

const SLAB = 256 << 10;
/** a slab with less room than this is retired (a smaller room only splits an output over two slabs) */
const MIN_ROOM = 64 << 10;

export interface ZstdEncoderParameters {
  level: number;
  /** worker threads (0: compress on the calling thread) */
  workers: number;
  jobSize: number;
  windowLog: number;
  checksum: boolean;
}

/**
 * zstd runs on its own thread so that compression stays off the event loop (one: on two cores shared with
 * etcd a second one is no faster, and each costs its buffers); 1 MiB jobs and a 1 MiB window bound its
 * buffers (the default 8 MiB jobs cost far more RSS) at a negligible cost in ratio for bbolt's 4 KiB pages.
 * The frame checksum lets `dr verify` and `dr fetch` detect corruption on their own. Figures:
 * docs/benchmarks.md, "Figures behind design choices in the code".
 */
export function defaultZstdParameters(level: number): ZstdEncoderParameters {
  return { level, workers: 1, jobSize: 1 << 20, windowLog: 20, checksum: true };
}

export class ZstdEncoder {
  private readonly cctx = new binding.CCtx();
  private slab = Buffer.allocUnsafe(SLAB);
  private used = 0;

  constructor(p: ZstdEncoderParameters) {
    const set = (param: ZstdBinding.CParameter, value: number) => this.cctx.setParameter(param, value);
    set(CParameter.compressionLevel, p.level);
    set(CParameter.checksumFlag, p.checksum ? 1 : 0);
    set(CParameter.windowLog, p.windowLog);
    if (p.workers > 0) {
      set(CParameter.nbWorkers, p.workers);
      set(CParameter.jobSize, p.jobSize);
    }
  }

  /** Compresses `input`; `out` receives each compressed piece (a slice that stays valid). */
  write(input: Buffer, out: (piece: Buffer) => void): void {
    this.run(input, EndDirective.continue, out);
  }

  /** Ends the frame and hands out everything that is left. */
  end(out: (piece: Buffer) => void): void {
    this.run(Buffer.alloc(0), EndDirective.end, out);
  }

  private run(input: Buffer, op: ZstdBinding.EndDirective, out: (piece: Buffer) => void): void {
    let src = input;
    for (;;) {
      if (this.slab.length - this.used < MIN_ROOM) {
        this.slab = Buffer.allocUnsafe(SLAB);
        this.used = 0;
      }
      const [left, produced, consumed] = this.cctx.compressStream2(this.slab.subarray(this.used), src, op);
      if (produced > 0) {
        out(this.slab.subarray(this.used, this.used + produced));
        this.used += produced;
      }
      src = src.subarray(consumed);
      if (src.length === 0 && (op === EndDirective.continue || left === 0)) return;
    }
  }
}
