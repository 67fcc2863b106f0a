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
import type { DrError } from '../core/errors.js';

const classified = new WeakMap<object, DrError>();

/** Records, for every error `stream` emits, the storage error `classify` makes of it. Returns stream. */
export function classifyStreamErrors<S extends Readable>(stream: S, classify: (err: unknown) => DrError): S {
  stream.on('error', (err: unknown) => {
    if (typeof err === 'object' && err !== null && !classified.has(err)) classified.set(err, classify(err));
  });
  return stream;
}

/** The storage error recorded for err by the backend whose stream emitted it, if any. */
export function storageErrorOf(err: unknown): DrError | undefined {
  return typeof err === 'object' && err !== null ? classified.get(err) : undefined;
}
