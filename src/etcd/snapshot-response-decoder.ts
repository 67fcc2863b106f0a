/**
 * Decodes the body of a Maintenance.Snapshot response as it arrives, in pieces of any size: gRPC's
 * length-prefixed messages, each a SnapshotResponse { header = 1; remaining_bytes = 2; blob = 3 }.
 *
 * Why by hand and not with protobufjs: a protobuf library decodes whole messages, so every 32 KiB message
 * would first be reassembled from its 16 KiB HTTP/2 frames (a copy of the whole snapshot) and become an
 * object. Here each blob is handed on as slices of the frames it arrived in: no copy, no per-message
 * allocation. Only the three fields above are interpreted; any other field is skipped by its wire type, as
 * protobuf requires, so a newer etcd that adds fields still decodes.
 */

export interface SnapshotResponseSink {
  /** a piece of the blob (a slice of the received chunk: consume or copy it before the next call) */
  blob(piece: Buffer): void;
  /** remaining_bytes of the message just ended (0 when absent: proto3 does not send zero values) */
  remaining(bytes: bigint): void;
}

export class SnapshotDecodeError extends Error {}

const enum State {
  Prefix, // the 5-byte gRPC message prefix
  Tag, // a field's key varint
  Varint, // a varint field's value
  Length, // a length-delimited field's length varint
  Skip, // bytes of a field we do not use
  Blob, // bytes of the blob field
}

const FIELD_REMAINING = 2;
const FIELD_BLOB = 3;

export class SnapshotResponseDecoder {
  private state = State.Prefix;
  private prefix = Buffer.alloc(5);
  private prefixFill = 0;
  /** bytes of the current message body not yet consumed */
  private messageLeft = 0;
  /** the varint being read, and its shift */
  private varint = 0n;
  private shift = 0n;
  private field = 0;
  /** bytes left in the current Skip or Blob run */
  private runLeft = 0;
  private messages = 0;
  private remainingBytes = 0n;

  constructor(private readonly sink: SnapshotResponseSink) {}

  /** messages completely decoded so far */
  get messageCount(): number {
    return this.messages;
  }

  /** true when the body ended exactly at a message boundary */
  get atBoundary(): boolean {
    return this.state === State.Prefix && this.prefixFill === 0;
  }

  write(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === State.Prefix) {
        const take = Math.min(5 - this.prefixFill, n - i);
        chunk.copy(this.prefix, this.prefixFill, i, i + take);
        this.prefixFill += take;
        i += take;
        if (this.prefixFill < 5) return;
        this.prefixFill = 0;
        if (this.prefix[0] !== 0) {
          throw new SnapshotDecodeError(
            `gRPC message ${this.messages + 1} is compressed (flag ${this.prefix[0]}), which was not asked for`,
          );
        }
        this.messageLeft = this.prefix.readUInt32BE(1);
        this.startField();
        continue;
      }
      // inside a message: never read past its end
      if (this.state === State.Blob || this.state === State.Skip) {
        const take = Math.min(this.runLeft, this.messageLeft, n - i);
        if (this.state === State.Blob && take > 0) this.sink.blob(chunk.subarray(i, i + take));
        i += take;
        this.runLeft -= take;
        this.messageLeft -= take;
        if (this.runLeft === 0) this.state = State.Tag;
      } else {
        // Tag, Varint, Length: one varint byte at a time (a few bytes a message)
        const b = chunk[i++]!;
        this.messageLeft--;
        this.varint |= BigInt(b & 0x7f) << this.shift;
        this.shift += 7n;
        if (this.shift > 70n) throw new SnapshotDecodeError('a varint in the response is too long');
        if (!(b & 0x80)) {
          const value = this.varint;
          this.varint = 0n;
          this.shift = 0n;
          this.onVarint(value);
        }
      }
      if (this.messageLeft === 0) this.endMessage();
    }
  }

  private startField(): void {
    this.state = State.Tag;
    this.varint = 0n;
    this.shift = 0n;
    if (this.messageLeft === 0) this.endMessage();
  }

  private endMessage(): void {
    if (this.state !== State.Tag || this.shift !== 0n) {
      throw new SnapshotDecodeError(`gRPC message ${this.messages + 1} ends inside a field`);
    }
    this.messages++;
    this.state = State.Prefix;
    const remaining = this.remainingBytes;
    this.remainingBytes = 0n;
    this.sink.remaining(remaining);
  }

  private onVarint(value: bigint): void {
    if (this.state === State.Tag) {
      this.field = Number(value >> 3n);
      const wire = Number(value & 7n);
      if (wire === 0) this.state = State.Varint;
      else if (wire === 2) this.state = State.Length;
      else if (wire === 1 || wire === 5) {
        this.state = State.Skip;
        this.runLeft = wire === 1 ? 8 : 4;
      } else throw new SnapshotDecodeError(`field ${this.field} has unsupported wire type ${wire}`);
      if (this.field === FIELD_BLOB && wire !== 2) {
        throw new SnapshotDecodeError(`the blob field has wire type ${wire}, not length-delimited`);
      }
      return;
    }
    if (this.state === State.Varint) {
      if (this.field === FIELD_REMAINING) this.remainingBytes = value;
      this.state = State.Tag;
      return;
    }
    // State.Length
    if (value > BigInt(this.messageLeft)) {
      throw new SnapshotDecodeError(
        `field ${this.field} claims ${value} bytes but its message has only ${this.messageLeft} left`,
      );
    }
    this.runLeft = Number(value);
    this.state = this.field === FIELD_BLOB ? State.Blob : State.Skip;
    if (this.runLeft === 0) this.state = State.Tag;
  }
}
