/**
 * HTTP/2 framing (RFC 9113) for the one client stream dr opens by hand (snapshot-call.ts): the frame
 * layout, the constants it needs, and the frames a client sends. Parsing is in http2-frame-reader.ts,
 * header compression in hpack.ts.
 */

export const FRAME_HEADER_SIZE = 9;
/** the largest frame payload a peer may send before SETTINGS_MAX_FRAME_SIZE raises it (we never do) */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** HTTP/2's initial flow-control window, for the stream and the connection */
export const DEFAULT_WINDOW = 65_535;

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const Setting = {
  ENABLE_PUSH: 0x2,
  INITIAL_WINDOW_SIZE: 0x4,
} as const;

/** error codes worth a name in a message */
const ErrorCodeName: Record<number, string> = {
  0: 'NO_ERROR',
  1: 'PROTOCOL_ERROR',
  2: 'INTERNAL_ERROR',
  3: 'FLOW_CONTROL_ERROR',
  6: 'FRAME_SIZE_ERROR',
  7: 'REFUSED_STREAM',
  8: 'CANCEL',
  9: 'COMPRESSION_ERROR',
  11: 'ENHANCE_YOUR_CALM',
};

export function errorCodeText(code: number): string {
  return `HTTP/2 code ${code}${ErrorCodeName[code] ? ` ${ErrorCodeName[code]}` : ''}`;
}

/** what a client sends first (RFC 9113 section 3.4), before its SETTINGS */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream & 0x7fffffff, 5);
  payload.copy(out, FRAME_HEADER_SIZE);
  return out;
}

export function settingsFrame(entries: [id: number, value: number][]): Buffer {
  const payload = Buffer.allocUnsafe(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, stream, payload);
}

/** A header block as HEADERS plus as many CONTINUATION frames as the default frame size needs. */
export function headerFrames(stream: number, block: Buffer, endStream: boolean): Buffer[] {
  const frames: Buffer[] = [];
  let offset = 0;
  do {
    const piece = block.subarray(offset, offset + DEFAULT_MAX_FRAME_SIZE);
    offset += piece.length;
    const last = offset >= block.length;
    const first = frames.length === 0;
    const flags = (last ? Flag.END_HEADERS : 0) | (first && endStream ? Flag.END_STREAM : 0);
    frames.push(frame(first ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream, piece));
  } while (offset < block.length);
  return frames;
}
