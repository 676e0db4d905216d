import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { requestScope, type Logger } from '../log.ts';

/** Issuer endpoints called at volume, per token or per verification (IssuerRegistry's direct routes). */
const HOT_PATH = /\/(token(\/introspection|\/revocation)?|jwks|\.well-known\/openid-configuration)$/;

/** An incoming X-Request-Id is kept when it is a plain token (a UUID, a proxy's hex or base64 id), never otherwise: it is echoed and logged. */
const WELL_FORMED_ID = /^[A-Za-z0-9._:+=/-]{1,128}$/;

export function requestIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && WELL_FORMED_ID.test(header) ? header : randomUUID();
}

/**
 * Gives every request an id (the caller's `X-Request-Id` when well-formed, else a new
 * UUID), echoes it in the response, serves the request inside its scope (so log lines and
 * audit records written meanwhile carry it), and writes one log line when it is answered:
 * method, path without its query (queries carry codes and hints), status and duration.
 * Successful answers of the endpoints called at volume (token, introspection, revocation,
 * JWKS, discovery) are logged at debug only: a line per token would cost throughput and say little.
 */
export function observeRequests(listener: RequestListener, logger: Logger): RequestListener {
  return (req, res) => {
    const id = requestIdOf(req.headers['x-request-id']);
    res.setHeader('x-request-id', id);
    // req.url is rewritten on the way to an issuer; the reference kept here is the URL as it came.
    const url = req.url ?? '/';
    const started = performance.now();
    // 'close' comes after the response is sent and also when the client goes away first: one line either way.
    res.once('close', () => logRequest(logger, req, res, id, url, started));
    requestScope.run({ id }, listener, req, res);
  };
}

function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, requestId: string, url: string, started: number): void {
  const status = res.statusCode;
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  const quiet = status < 400 && res.writableFinished && HOT_PATH.test(path);
  if (quiet && !logger.debugEnabled) return;
  const fields = { requestId, method: req.method, path, status, ms: Math.round((performance.now() - started) * 10) / 10, ...(res.writableFinished ? {} : { aborted: true }) };
  if (quiet) logger.debug('request', fields);
  else logger.info('request', fields);
}
