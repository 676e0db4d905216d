import { request } from 'node:http';

/**
 * A fetch that connects to a local server's socket whatever host the URL names, and sends that
 * host as the Host header: how a client on the network reaches a vanity domain of the server.
 */
export function loopbackFetch(port: string | number): (url: string | URL, init?: { method?: string; headers?: HeadersInit | Record<string, string>; body?: unknown }) => Promise<Response> {
  return (url, init = {}) => {
    const target = new URL(url);
    const raw = init.body;
    const body = raw instanceof URLSearchParams ? raw.toString() : typeof raw === 'string' ? raw : raw instanceof Uint8Array ? Buffer.from(raw) : undefined;
    const headers: Record<string, string> = {};
    new Headers(init.headers as HeadersInit | undefined).forEach((value, name) => (headers[name] = value));
    if (raw instanceof URLSearchParams && !headers['content-type']) headers['content-type'] = 'application/x-www-form-urlencoded';
    return new Promise<Response>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: init.method ?? 'GET', path: `${target.pathname}${target.search}`, headers: { ...headers, host: target.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value === undefined) continue;
            for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
          }
          const status = res.statusCode ?? 500;
          resolve(new Response([204, 304].includes(status) ? null : Buffer.concat(chunks), { status, headers: out }));
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  };
}
