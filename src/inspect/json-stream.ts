/**
 * Writes ONE JSON document whose big array is streamed: `{"head":..., "<array>": [` + items as they come
 * + `], "tail fields"...}`. The text parses as a single document, yet nothing but the current item is held
 * in memory. Output goes through a small buffer; `flush()` resolves once the sink has drained, so a slow
 * reader (a pipe into `less`) throttles the decoder instead of the process buffering everything.
 */

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
