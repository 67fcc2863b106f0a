/**
 * Errors of a stream returned by Backend.get, as storage errors.
 *
 * A reader (verify, fetch, a copy to another target) pipes the object through decoders; when the
 * pipeline fails it must know whether the bytes were bad (a failed verification, exit 1) or the transport
 * broke (a storage error, exit 3, worth another read). The backend knows: it attaches a listener to the
 * stream it hands out, first in line, and records its classification of every error the stream emits.
 * No extra stream stage (each one costs CPU per GiB), and the error object itself is left untouched.
 */
import type { Readable } from 'node:stream';
import { DrError } from '../core/errors.js';

const classified = new WeakMap<object, DrError>();

/**
 * Whether err can be the transport's or the file system's own: a system error (code, syscall), a timeout
 * or an aborted response. A pipeline destroys its source with the error of whichever stage failed, so the
 * source also emits a decoder's "Data corruption detected" or a digest's DrError: those are verdicts on
 * the bytes, not storage errors, and must stay exit 1.
 */
export function isTransportError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof DrError) return false;
  const e = err as NodeJS.ErrnoException;
  return (
    typeof e.code === 'string' ||
    typeof e.syscall === 'string' ||
    e.name === 'TimeoutError' ||
    e.message === 'aborted'
  );
}

/**
 * Records, for every transport error `stream` emits, the storage error `classify` makes of it. Returns
 * stream. A backend whose SDK reports a broken transport in words of its own (azblob's "received less
 * data than required") passes its own `isTransport`, which should include isTransportError.
 */
export function classifyStreamErrors<S extends Readable>(
  stream: S,
  classify: (err: unknown) => DrError,
  isTransport: (err: unknown) => boolean = isTransportError,
): S {
  stream.on('error', (err: unknown) => {
    if (isTransport(err) && !classified.has(err as object)) classified.set(err as object, classify(err));
  });
  return stream;
}

/** The storage error recorded for err by the backend whose stream emitted it, if any. */
export function storageErrorOf(err: unknown): DrError | undefined {
  return typeof err === 'object' && err !== null ? classified.get(err) : undefined;
}
