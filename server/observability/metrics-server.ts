import { createHash, timingSafeEqual } from 'node:crypto';
import { listen, type RunningServer } from '../http/listen.ts';
import type { Metrics } from './metrics.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Serves `GET /metrics` on a listener of its own, apart from the public port: metrics name
 * every organization, and a separate port is what a Prometheus scrape (or a NetworkPolicy)
 * reaches without the ingress exposing it. With `token`, a scrape must also send
 * `Authorization: Bearer <token>`.
 */
export async function serveMetrics(metrics: Metrics, options: { host: string; port: number; token?: string | undefined }): Promise<RunningServer> {
  const expected = options.token === undefined ? undefined : digest(options.token);
  return listen((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this port serves GET /metrics only\n');
      return;
    }
    if (expected) {
      const auth = req.headers.authorization ?? '';
      const given = auth.startsWith('Bearer ') ? digest(auth.slice(7)) : undefined;
      if (!given || !timingSafeEqual(given, expected)) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="gatehouse-metrics"' }).end('a bearer token is required\n');
        return;
      }
    }
    metrics.exposition().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
    );
  }, options);
}
