import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

export interface NoTlsProxy {
  port: number;
  /** What each connection opened with: 'ssl-request' (answered "N") or 'plaintext-startup' (forwarded). */
  seen: string[];
  close(): Promise<void>;
}

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
function isSslRequest(first: Buffer): boolean {
  return first.length >= 8 && first.readUInt32BE(0) === 8 && first.readUInt32BE(4) === 80877103;
}

/**
 * A PostgreSQL server without TLS, made from a real one: a proxy on 127.0.0.1 that answers the TLS request with "N"
 * (no TLS) and forwards plaintext connections to `host:port`.
 */
export async function startNoTlsProxy(host: string, port: number): Promise<NoTlsProxy> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      const upstream = netConnect(port, host);
      sockets.add(upstream);
      upstream.on('error', () => socket.destroy());
      const ssl = isSslRequest(first);
      seen.push(ssl ? 'ssl-request' : 'plaintext-startup');
      if (ssl) socket.write('N');
      else upstream.write(first);
      socket.pipe(upstream).pipe(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address !== 'object') throw new Error('no proxy address');
  return {
    port: address.port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
