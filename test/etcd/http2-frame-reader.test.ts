import { describe, expect, it } from 'vitest';
import { FrameReader, Http2ProtocolError } from '../../src/etcd/http2-frame-reader.js';
import { Flag, FrameType, frame } from '../../src/etcd/http2-wire.js';

function padded(data: Buffer, pad: number): Buffer {
  return Buffer.concat([Buffer.from([pad]), data, Buffer.alloc(pad, 0xee)]);
}

/** what a reader reports, with DATA pieces joined per frame */
function readAll(bytes: Buffer, split: number): string[] {
  const events: string[] = [];
  let data = '';
  const reader = new FrameReader({
    data: (stream, piece) => (data += piece.toString('latin1')),
    dataEnd: (stream, flow, flags) => {
      events.push(`data s${stream} "${data}" flow=${flow} flags=${flags}`);
      data = '';
    },
    frame: (type, flags, stream, payload) =>
      events.push(`frame t${type} f${flags} s${stream} ${payload.toString('hex')}`),
  });
  for (let i = 0; i < bytes.length; i += split) reader.push(bytes.subarray(i, i + split));
  expect(reader.atFrameBoundary).toBe(true);
  return events;
}

describe('HTTP/2 frame reader', () => {
  const stream = Buffer.concat([
    frame(FrameType.SETTINGS, 0, 0, Buffer.from('000400010000', 'hex')),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('8889', 'hex')),
    frame(FrameType.DATA, 0, 1, Buffer.from('hello ')),
    frame(FrameType.DATA, Flag.PADDED, 1, padded(Buffer.from('padded'), 5)),
    frame(FrameType.PING, 0, 0, Buffer.from('0102030405060708', 'hex')),
    frame(FrameType.DATA, Flag.PADDED, 1, padded(Buffer.alloc(0), 3)), // padding only
    frame(FrameType.DATA, Flag.END_STREAM, 1), // empty, ends the stream
  ]);
  const expected = [
    'frame t4 f0 s0 000400010000',
    'frame t1 f4 s1 8889',
    'data s1 "hello " flow=6 flags=0',
    'data s1 "padded" flow=12 flags=8',
    'frame t6 f0 s0 0102030405060708',
    'data s1 "" flow=4 flags=8',
    'data s1 "" flow=0 flags=1',
  ];

  it('gives the same frames however the bytes are split, with DATA padding removed but counted', () => {
    for (const split of [1, 2, 3, 7, 9, 10, 64, stream.length])
      expect(readAll(stream, split)).toEqual(expected);
  });

  it('refuses a frame over the size limit and padding longer than the frame', () => {
    const noop = { data: () => undefined, dataEnd: () => undefined, frame: () => undefined };
    const big = frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385));
    expect(() => new FrameReader(noop).push(big)).toThrow(Http2ProtocolError);
    const badPad = frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([9, 1, 2]));
    expect(() => new FrameReader(noop).push(badPad)).toThrow(/padding 9 >= length 3/);
  });
});
