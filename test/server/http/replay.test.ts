// Handing on a request whose form was read to see who answers it (server/http/replay.ts):
// the replay reads as the original would have.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { replayOf } from '../../../server/http/replay.ts';
import { readTokenBody } from '../../../server/oidc/client-credentials.ts';

let server: Server;
let port: number;
/** What the handler saw: the form read (or not), and the replay's method, URL, headers and body. */
let seen: { read: string | undefined; replay?: { method: string; url: string; type: string | undefined; body: string; complete: boolean } } | undefined;

async function drain(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = await readTokenBody(req);
    seen = { read: body?.toString() };
    if (body !== undefined) {
      const replay = replayOf(req, body);
      seen.replay = { method: replay.method!, url: replay.url!, type: replay.headers['content-type'], body: await drain(replay), complete: replay.complete };
    } else await drain(req);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function send(body: string | Buffer, headers: Record<string, string>, chunked = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/ns/forge/token?x=1', headers: { ...headers, ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    if (chunked) {
      const half = Math.floor(body.length / 2);
      req.write(body.slice(0, half));
      setTimeout(() => req.end(body.slice(half)), 5);
    } else req.end(body);
  });
}

describe('a form read before deciding who answers', () => {
  it('is read whole, and the replay reads the same method, URL, headers and body, then ends', async () => {
    await send('grant_type=refresh_token&refresh_token=abc', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(seen).toEqual({ read: 'grant_type=refresh_token&refresh_token=abc', replay: { method: 'POST', url: '/ns/forge/token?x=1', type: 'application/x-www-form-urlencoded; charset=utf-8', body: 'grant_type=refresh_token&refresh_token=abc', complete: true } });
  });

  it('reads an empty form as empty', async () => {
    await send('', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(seen?.read).toBe('');
    expect(seen?.replay?.body).toBe('');
  });

  it('reads a chunked form (no Content-Length) as well, and replays it whole', async () => {
    await send('grant_type=authorization_code&code=xyz', { 'content-type': 'application/x-www-form-urlencoded' }, true);
    expect(seen?.read).toBe('grant_type=authorization_code&code=xyz');
    expect(seen?.replay?.body).toBe('grant_type=authorization_code&code=xyz');
  });
});
