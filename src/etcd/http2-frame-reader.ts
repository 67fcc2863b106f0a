/**
 * Splits the bytes of an HTTP/2 connection into frames as they arrive, in reads of any size.
 *
 * DATA is handed on as it arrives, piece by piece and with its padding removed, without waiting for the
 * frame to complete: the pieces are views of the caller's read buffer and are valid only during the
 * call (snapshot-call.ts reads into one reused buffer). Every other frame is small and is collected whole
 * into a buffer of its own.
 */
import { DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_SIZE, Flag, FrameType } from './http2-wire.js';

export interface FrameHandler {
  /** a piece of a DATA frame's data (padding removed), valid only during the call */
  data(stream: number, piece: Buffer): void;
  /** a DATA frame ended: its whole payload length (what flow control counts) and its flags */
  dataEnd(stream: number, flowBytes: number, flags: number): void;
  /** any other frame, whole; the payload is the handler's to keep */
  frame(type: number, flags: number, stream: number, payload: Buffer): void;
}

/** A violation of HTTP/2 framing by the peer (fatal to the connection). */
export class Http2ProtocolError extends Error {}

const enum State {
  Header,
  PadLength, // a padded DATA frame's first byte
  Data,
  Padding,
  Payload, // a non-DATA frame's payload
}

export class FrameReader {
  private state = State.Header;
  private readonly header = Buffer.alloc(FRAME_HEADER_SIZE);
  private headerFill = 0;
  private type = 0;
  private flags = 0;
  private stream = 0;
  private length = 0;
  /** bytes left in the current state's part of the frame */
  private left = 0;
  private padding = 0;
  private payload = Buffer.alloc(0);
  private payloadFill = 0;

  constructor(
    private readonly handler: FrameHandler,
    private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
  ) {}

  push(bytes: Buffer): void {
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      switch (this.state) {
        case State.Header: {
          const take = Math.min(FRAME_HEADER_SIZE - this.headerFill, n - i);
          bytes.copy(this.header, this.headerFill, i, i + take);
          this.headerFill += take;
          i += take;
          if (this.headerFill === FRAME_HEADER_SIZE) this.startFrame();
          break;
        }
        case State.PadLength: {
          this.padding = bytes[i++]!;
          if (this.padding >= this.length)
            throw new Http2ProtocolError(`DATA frame: padding ${this.padding} >= length ${this.length}`);
          this.left = this.length - 1 - this.padding;
          this.state = State.Data;
          if (this.left === 0) this.afterData();
          break;
        }
        case State.Data: {
          const take = Math.min(this.left, n - i);
          this.handler.data(this.stream, bytes.subarray(i, i + take));
          i += take;
          this.left -= take;
          if (this.left === 0) this.afterData();
          break;
        }
        case State.Padding: {
          const take = Math.min(this.left, n - i);
          i += take;
          this.left -= take;
          if (this.left === 0) this.endData();
          break;
        }
        case State.Payload: {
          const take = Math.min(this.left, n - i);
          bytes.copy(this.payload, this.payloadFill, i, i + take);
          this.payloadFill += take;
          i += take;
          this.left -= take;
          if (this.left === 0) this.endFrame();
          break;
        }
      }
    }
  }

  /** true between frames (a connection that closes elsewhere was cut inside a frame) */
  get atFrameBoundary(): boolean {
    return this.state === State.Header && this.headerFill === 0;
  }

  private startFrame(): void {
    const h = this.header;
    this.headerFill = 0;
    this.length = h.readUIntBE(0, 3);
    this.type = h[3]!;
    this.flags = h[4]!;
    this.stream = h.readUInt32BE(5) & 0x7fffffff;
    if (this.length > this.maxFrameSize) {
      throw new Http2ProtocolError(
        `a frame of type ${this.type} is ${this.length} bytes, over the ${this.maxFrameSize}-byte limit`,
      );
    }
    if (this.type === FrameType.DATA) {
      if (this.flags & Flag.PADDED) {
        if (this.length === 0) throw new Http2ProtocolError('a padded DATA frame without its pad length');
        this.state = State.PadLength;
      } else {
        this.padding = 0;
        this.left = this.length;
        this.state = State.Data;
        if (this.left === 0) this.afterData();
      }
      return;
    }
    this.payload = Buffer.allocUnsafe(this.length);
    this.payloadFill = 0;
    this.left = this.length;
    this.state = State.Payload;
    if (this.left === 0) this.endFrame();
  }

  private afterData(): void {
    if (this.padding > 0) {
      this.left = this.padding;
      this.state = State.Padding;
    } else this.endData();
  }

  private endData(): void {
    this.state = State.Header;
    this.handler.dataEnd(this.stream, this.length, this.flags);
  }

  private endFrame(): void {
    this.state = State.Header;
    this.handler.frame(this.type, this.flags, this.stream, this.payload);
  }
}
