/**
 * The one way dr opens an HTTP/2 connection of Node's own to an etcd member (snapshot-call.ts,
 * txn-session.ts): over TCP (`http://` / `https://`, host:port) or a Unix socket (`unix://` /
 * `unixs://`, endpoint.ts), with the client's TLS material when the endpoint is secure.
 *
 * On a socket there is no host name: the authority is "localhost", as grpc-js uses for `unix:` targets,
 * so one server certificate (SAN DNS:localhost) answers both clients.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { TlsMaterial } from './tls-credentials.js';

export interface H2Target {
  /** host:port ([v6 address]:port), or `unix:/path` with socketPath */
  address: string;
  secure: boolean;
  socketPath?: string;
  tls?: TlsMaterial;
}

export interface H2Connection {
  session: http2.ClientHttp2Session;
  /** the `:authority` to send */
  authority: string;
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}

export function connectH2(t: H2Target, options: http2.ClientSessionOptions = {}): H2Connection {
  const creds = t.secure
    ? { ca: t.tls?.ca ?? undefined, cert: t.tls?.cert ?? undefined, key: t.tls?.key ?? undefined }
    : {};
  const socketPath = t.socketPath;
  if (socketPath !== undefined) {
    const authority = 'localhost';
    const session = http2.connect(`${t.secure ? 'https' : 'http'}://${authority}`, {
      ...options,
      createConnection: () =>
        t.secure
          ? tls.connect({ path: socketPath, servername: authority, ALPNProtocols: ['h2'], ...creds })
          : net.connect(socketPath),
    });
    return { session, authority };
  }
  const { host, port } = splitAddress(t.address);
  const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  // As grpc-js, the endpoint's host name is the TLS server name (Node sets it; an IP address is checked
  // against the certificate's IP SANs, without SNI).
  const session = http2.connect(`${t.secure ? 'https' : 'http'}://${authority}`, { ...options, ...creds });
  return { session, authority };
}
