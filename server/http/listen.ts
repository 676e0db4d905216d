import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface RunningServer {
  server: Server;
  url: string;
  port: number;
  /**
   * Stops accepting connections and resolves once every connection is gone. With `graceMs`,
   * requests in flight may finish for that long (idle keep-alive connections are closed at
   * once); without it, every connection is cut now.
   */
  close(graceMs?: number): Promise<void>;
}

/** Listens on `host:port` (port 0 picks a free one) and resolves once the socket is bound. */
export async function listen(app: Koa | RequestListener, options: { host: string; port: number }): Promise<RunningServer> {
  const server = createServer(typeof app === 'function' ? app : app.callback());
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 30000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: (graceMs = 0) =>
      new Promise<void>((resolve, reject) => {
        let idle: NodeJS.Timeout | undefined;
        let cut: NodeJS.Timeout | undefined;
        server.close((error) => {
          clearInterval(idle);
          clearTimeout(cut);
          if (error) reject(error);
          else resolve();
        });
        if (graceMs <= 0) {
          server.closeAllConnections();
          return;
        }
        // A keep-alive connection becomes idle when its last response is sent: close it then.
        server.closeIdleConnections();
        idle = setInterval(() => server.closeIdleConnections(), 50);
        cut = setTimeout(() => server.closeAllConnections(), graceMs);
      }),
  };
}
