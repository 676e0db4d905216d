import { IncomingMessage } from 'node:http';

/** oidc-provider's own limit on a form body (selective_body.js): what it refuses, we leave for it to refuse. */
export const FORM_LIMIT = 56 * 1024;

/**
 * The body of a form POST read whole, when it is one we may read before deciding who answers:
 * `application/x-www-form-urlencoded` with a Content-Length within FORM_LIMIT. Anything else
 * (another type, chunked, too large) is left unread, for the provider to answer as it does.
 */
export async function readSmallForm(req: IncomingMessage): Promise<Buffer | undefined> {
  const type = req.headers['content-type'];
  const length = Number(req.headers['content-length']);
  if (!type?.toLowerCase().startsWith('application/x-www-form-urlencoded') || !Number.isInteger(length) || length > FORM_LIMIT || !req.readable) return undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    chunks.push(chunk as Buffer);
    received += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks, received);
}

/**
 * A request that reads as `req` did before its body was taken: the same method, URL, headers
 * and socket, and `body` as its stream. The body was read to see whether we answer it
 * ourselves; when we do not, this is what the provider is handed, and it reads it as it would
 * have read the original (oidc-provider refuses a body parsed by anyone else).
 */
export function replayOf(req: IncomingMessage, body: Buffer): IncomingMessage {
  const replay = new IncomingMessage(req.socket);
  replay.method = req.method!;
  replay.url = req.url!;
  replay.headers = req.headers;
  replay.rawHeaders = req.rawHeaders;
  replay.httpVersion = req.httpVersion;
  replay.httpVersionMajor = req.httpVersionMajor;
  replay.httpVersionMinor = req.httpVersionMinor;
  // Express-style mount bookkeeping (the direct path sets it), which the provider reads.
  const { originalUrl } = req as { originalUrl?: string };
  if (originalUrl !== undefined) Object.assign(replay, { originalUrl });
  if (body.length > 0) replay.push(body);
  replay.push(null);
  replay.complete = true;
  return replay;
}
