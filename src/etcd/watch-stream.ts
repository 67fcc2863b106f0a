/**
 * etcd's Watch service as an async iterable of responses. One gRPC bidirectional stream per watch, one
 * watch per stream (dr never multiplexes). grpc-js reads the next message from the HTTP/2 stream only when
 * the previous one was taken (its Readable's `_read`), so a consumer that stops iterating stops reading:
 * etcd then sees a full flow-control window and keeps the events on its side (a watcher that falls behind
 * is moved to etcd's "unsynced" group and catches up from the store later). Nothing piles up here.
 *
 * Ends: the iterator finishes when etcd ends the stream; a transport or server failure is thrown as a
 * DrError classified like every other etcd call (classify-error.ts); close() or the AbortSignal end it
 * quietly (the iterator returns), since the caller asked for it.
 */
import * as grpc from '@grpc/grpc-js';
import { classifyEtcdError } from './classify-error.js';
import type { KeyValue, WatchEvent, WatchOptions, WatchResponse, WatchStream } from './types.js';

/** mvccpb.KeyValue as grpc-js's loader hands it over (64-bit numbers as strings) */
export interface RawKeyValue {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}
interface RawWatchResponse {
  header?: { revision: string; member_id: string };
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: { type: string; kv?: RawKeyValue }[];
}

const big = (v: string | undefined | null): bigint => BigInt(v ?? 0);

/** etcd's KeyValue as dr's type (Range answers and watch events alike) */
export function keyValueOf(raw: RawKeyValue | undefined): KeyValue {
  return {
    key: raw?.key ?? Buffer.alloc(0),
    value: raw?.value ?? Buffer.alloc(0),
    createRevision: big(raw?.create_revision),
    modRevision: big(raw?.mod_revision),
    version: big(raw?.version),
    lease: big(raw?.lease),
  };
}

export function toWatchResponse(raw: RawWatchResponse): WatchResponse {
  return {
    headerRevision: big(raw.header?.revision),
    memberId: big(raw.header?.member_id),
    created: Boolean(raw.created),
    canceled: Boolean(raw.canceled),
    compactRevision: big(raw.compact_revision),
    cancelReason: raw.cancel_reason ?? '',
    fragment: Boolean(raw.fragment),
    events: (raw.events ?? []).map((e): WatchEvent => ({
      type: e.type === 'DELETE' ? 'DELETE' : 'PUT',
      kv: keyValueOf(e.kv),
    })),
  };
}

/**
 * @param open makes the call (after the channel is ready and with the auth metadata): the client's job
 */
export function createWatchStream(
  endpoint: string,
  opts: WatchOptions,
  open: () => Promise<grpc.ClientDuplexStream<unknown, RawWatchResponse>>,
  signal?: AbortSignal,
): WatchStream {
  let call: grpc.ClientDuplexStream<unknown, RawWatchResponse> | undefined;
  let closed = false;
  const close = () => {
    closed = true;
    call?.cancel();
  };
  async function* iterate(): AsyncGenerator<WatchResponse> {
    if (signal?.aborted || closed) return;
    const onAbort = () => close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        call = await open();
      } catch (err) {
        throw classifyEtcdError(err, endpoint, 'Watch');
      }
      if (closed) {
        call.cancel();
        return;
      }
      call.write({
        create_request: {
          key: opts.key,
          range_end: opts.rangeEnd,
          start_revision: opts.startRevision.toString(),
          progress_notify: opts.progressNotify ?? false,
          prev_kv: false,
          fragment: false,
        },
      });
      try {
        for await (const raw of call as AsyncIterable<RawWatchResponse>) yield toWatchResponse(raw);
      } catch (err) {
        if (closed && (err as grpc.ServiceError).code === grpc.status.CANCELLED) return;
        throw classifyEtcdError(err, endpoint, 'Watch');
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call?.cancel();
    }
  }
  return { endpoint, close, [Symbol.asyncIterator]: iterate };
}
