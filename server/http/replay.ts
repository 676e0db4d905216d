import { IncomingMessage } from 'node:http';

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
