/**
 * The three deadlines of every azblob:// request, which @azure/storage-blob does not enforce itself
 * (its `tryTimeoutInMs` only asks the *server* to give up):
 *  - connectTimeoutMs: the TCP connection must be up in time (an agent whose sockets carry a timer
 *    until 'connect');
 *  - requestTimeoutMs: the answer must begin in time, the SDK's own retries of the request included
 *    (our policy runs outside the SDK's retry loop), a staged block's upload included;
 *  - socketTimeoutMs: a download body must not stall (an inactivity timer on the response's socket).
 * Each fails as a RestError / system error with code ETIMEDOUT, which azureError() classifies as
 * STORAGE_UNREACHABLE (transient), never as ABORTED: that one means the caller cancelled.
 *
 * Hooked in as a request policy factory of the SDK's pipeline (newPipeline's factories), so no
 * client of ours has to pass anything per call.
 */
import type { IncomingMessage } from 'node:http';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  RestError,
  type HttpOperationResponse,
  type RequestPolicy,
  type RequestPolicyFactory,
  type WebResource,
} from '@azure/storage-blob';

export interface AzureDeadlines {
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  socketTimeoutMs: number;
}

function timeoutError(what: string): Error {
  return Object.assign(new Error(what), { code: 'ETIMEDOUT' });
}

/** A keep-alive agent whose new connections fail with ETIMEDOUT unless connected within ms. */
export function connectDeadlineAgent(secure: boolean, ms: number): http.Agent {
  const agent: http.Agent = secure
    ? new https.Agent({ keepAlive: true })
    : new http.Agent({ keepAlive: true });
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void) => {
    const socket = create(options, cb) as Socket | null | undefined;
    if (!socket || typeof socket.setTimeout !== 'function') return socket;
    const onTimeout = (): void => {
      socket.destroy(
        timeoutError(
          `connect to ${options.host ?? options.hostname}:${options.port} timed out after ${ms} ms`,
        ),
      );
    };
    socket.setTimeout(ms);
    socket.once('timeout', onTimeout);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
    });
    return socket;
  };
  return agent;
}

/** Arms the inactivity timer of a download body's socket; disarmed when the body closes. */
function armInactivity(body: NodeJS.ReadableStream | undefined, ms: number): void {
  const msg = body as IncomingMessage | undefined;
  const socket = msg?.socket;
  if (!msg || !socket || typeof socket.setTimeout !== 'function') return;
  const onTimeout = (): void => {
    msg.destroy(timeoutError(`no data for ${ms} ms while reading the answer`));
  };
  socket.setTimeout(ms);
  socket.on('timeout', onTimeout);
  msg.once('close', () => {
    socket.setTimeout(0);
    socket.off('timeout', onTimeout);
  });
}

/**
 * The policy to add to the SDK's pipeline, and the agent it hands every request (the backend's close()
 * destroys its idle sockets).
 */
export function deadlinePolicy(
  d: AzureDeadlines,
  secure: boolean,
): { policy: RequestPolicyFactory; agent: http.Agent } {
  const agent = connectDeadlineAgent(secure, d.connectTimeoutMs);
  const policy: RequestPolicyFactory = {
    create(next: RequestPolicy): RequestPolicy {
      return {
        async sendRequest(req: WebResource): Promise<HttpOperationResponse> {
          req.agent = agent;
          const own = req.abortSignal as AbortSignal | undefined;
          const deadline = new AbortController();
          const timer = setTimeout(() => deadline.abort(), d.requestTimeoutMs);
          req.abortSignal = own ? AbortSignal.any([own, deadline.signal]) : deadline.signal;
          try {
            const res = await next.sendRequest(req);
            armInactivity(res.readableStreamBody, d.socketTimeoutMs);
            return res;
          } catch (err) {
            if (deadline.signal.aborted && !own?.aborted) {
              throw new RestError(`no answer within ${d.requestTimeoutMs} ms`, { code: 'ETIMEDOUT' });
            }
            throw err;
          } finally {
            clearTimeout(timer);
          }
        },
      };
    },
  };
  return { policy, agent };
}
