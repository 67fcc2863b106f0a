/**
 * Writes ONE JSON document whose big array is streamed: `{"head":..., "<array>": [` + items as they come
 * + `], "tail fields"...}`. The text parses as a single document, yet nothing but the current item is held
 * in memory. Output goes through a small buffer; `flush()` resolves once the sink has drained, so a slow
 * reader (a pipe into `less`) throttles the decoder instead of the process buffering everything.
 */
import { toDrError, type ExitCode } from '../core/errors.js';

/** The part of a Writable this needs (process.stdout in the CLI, a collector in tests). */
export interface TextSink {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
  on?(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
}

/** The reader went away (EPIPE: `dr inspect wal DIR | head`): stop producing, it is not a failure. */
export class OutputClosedError extends Error {
  override name = 'OutputClosedError';
}

const bigintReplacer = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

export function jsonText(value: unknown): string {
  return JSON.stringify(value, bigintReplacer);
}

const FLUSH_AT = 1 << 16;

/** Buffered text output with backpressure. */
export class TextOut {
  private pending = '';
  private needDrain = false;
  private closed = false;
  private drained: (() => void) | undefined;
  constructor(private readonly sink: TextSink) {
    sink.on?.('error', (err) => {
      if (err.code !== 'EPIPE' && !this.closed) throw err;
      this.closed = true;
      this.drained?.();
    });
  }

  write(s: string): void {
    if (this.closed) return;
    this.pending += s;
    if (this.pending.length >= FLUSH_AT) this.push();
  }

  private push(): void {
    if (!this.pending) return;
    if (!this.sink.write(this.pending)) this.needDrain = true;
    this.pending = '';
  }

  /** Pushes what is buffered and waits until the sink wants more. */
  /** Pushes what is buffered and waits until the sink wants more; throws OutputClosedError after EPIPE. */
  async flush(): Promise<void> {
    if (!this.closed) this.push();
    if (this.needDrain && !this.closed) {
      this.needDrain = false;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        this.sink.once('drain', resolve);
      });
      this.drained = undefined;
    }
    if (this.closed) throw new OutputClosedError('output closed by the reader');
  }
}

export class JsonArrayStream {
  private first = true;
  private open = false;
  constructor(private readonly out: TextOut) {}

  /** Starts the document: `head` fields, then the array named `arrayName`. */
  begin(head: Record<string, unknown>, arrayName: string): void {
    const h = jsonText(head);
    const inner = h.slice(1, -1);
    this.out.write(`{${inner}${inner ? ',' : ''}${JSON.stringify(arrayName)}:[`);
    this.open = true;
  }

  item(value: unknown): void {
    this.out.write(`${this.first ? '\n' : ',\n'}${jsonText(value)}`);
    this.first = false;
  }

  /** Closes the array, adds the `tail` fields and ends the document. */
  end(tail: Record<string, unknown>): void {
    if (!this.open) throw new Error('JsonArrayStream.end before begin');
    const t = jsonText(tail).slice(1, -1);
    this.out.write(`\n]${t ? ',' : ''}${t}}\n`);
    this.open = false;
  }
}

/** A command body whose reader may go away early (`| head`): that ends it quietly with exit 0. */
export function untilReaderCloses<A extends unknown[]>(
  body: (...args: A) => Promise<ExitCode>,
): (...args: A) => Promise<ExitCode> {
  return async (...args) => {
    try {
      return await body(...args);
    } catch (err) {
      if (err instanceof OutputClosedError) return 0;
      throw err;
    }
  };
}

/**
 * Runs the body of a streaming JSON command whose document has begun. From then on a failure cannot be printed as a second
 * document: it closes the document with `ok: false` and the error instead, and the exit code says so.
 */
export async function streamJson(
  json: JsonArrayStream,
  out: TextOut,
  body: () => Promise<{ tail: Record<string, unknown>; code: ExitCode }>,
  /** where the error is told to a person as well (the CLI's stderr) */
  stderr: { write(text: string): unknown },
): Promise<ExitCode> {
  try {
    const { tail, code } = await body();
    json.end({ ok: true, ...tail });
    await out.flush();
    return code;
  } catch (err) {
    if (err instanceof OutputClosedError) return 0;
    const e = toDrError(err);
    json.end({ ok: false, error: e.toJSON() });
    await out.flush();
    stderr.write(`dr: error ${e.code}: ${e.message}\n`);
    return e.exitCode;
  }
}
