import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import * as querystring from 'node:querystring';
import Koa from 'koa';
import { errors } from 'oidc-provider';
import { providerRoutes } from '../issuers/routes.ts';

/**
 * A token request as oidc-provider reads it before any grant looks at it: the body (at most
 * BODY_LIMIT bytes, shared/selective_body.js), the form in it (type-is through Koa,
 * `querystring.parse`), its parameters (helpers/params.js, shared/assemble_params.js) and the
 * duplicates it refuses (shared/reject_dupes.js). Read by the client_credentials grant
 * (client-credentials.ts) and by the registry, which hands other grants to oidc-provider.
 */

/** A POST to `{issuer}/token`: its headers and its body as read by `readTokenBody` (undefined: it could not be read). */
export interface TokenRequest {
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  /** The parsed form, kept by `isClientCredentials` so `answer` does not parse it again. */
  form?: TokenForm;
}

/** The form fields of a token request as oidc-provider reads them (`querystring.parse`), or why there are none. */
export type TokenForm = { fields: querystring.ParsedUrlQuery } | { refused: 'content-type' | 'body' } | { empty: true };

/** A request's parameters once assembled (helpers/params.js: an empty value is no value). */
export type TokenParams = Record<string, string | string[] | undefined>;

/** oidc-provider's limit on a form body (shared/selective_body.js). */
export const BODY_LIMIT = 56 * 1024;

export const FORM = 'application/x-www-form-urlencoded';
export const TOKEN_PATH = providerRoutes().token;
export const CLIENT_CREDENTIALS = 'client_credentials';
const conjunction = new Intl.ListFormat('en', { type: 'conjunction' });

/**
 * Koa's request, for the header semantics oidc-provider reads through it on the rarer paths
 * (`is`, `accepts`): the same code, so the same answers.
 */
const koaRequest = new Koa().request;
export function requestOf(headers: IncomingHttpHeaders): Koa.Request {
  const request = Object.create(koaRequest) as Koa.Request;
  (request as unknown as { req: { headers: IncomingHttpHeaders } }).req = { headers };
  return request;
}

/**
 * Reads a token request's body as oidc-provider does: at most BODY_LIMIT bytes, exactly its
 * Content-Length when it has one. Undefined when it cannot be (answered 400 by `answer`).
 */
export async function readTokenBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = req.headers['content-length'];
  const parsed = declared === undefined || declared === '' ? undefined : Number.parseInt(declared, 10);
  const length = parsed === undefined || Number.isNaN(parsed) ? undefined : parsed;
  if (length !== undefined && length > BODY_LIMIT) return undefined;
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > BODY_LIMIT || (length !== undefined && received > length)) return undefined;
      chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  if (length !== undefined && received !== length) return undefined;
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received);
}

/**
 * Whether the body is a form oidc-provider would read (type-is, through Koa: a form type and a
 * body, by Content-Length or Transfer-Encoding). It reads it as UTF-8 whatever its charset:
 * the `ctx.charset` it asks Koa 3 for is undefined.
 */
function isForm(headers: IncomingHttpHeaders): boolean {
  // The common case, decided without parsing: exactly the form type, no parameters, a length.
  if (headers['content-type'] === FORM && typeof headers['content-length'] === 'string' && /^\d+$/.test(headers['content-length'])) return true;
  return Boolean(requestOf(headers).is(FORM));
}

/** The request's form, parsed once (kept in `req.form`). */
export function parseForm(req: TokenRequest): TokenForm {
  if (req.form) return req.form;
  let parsed: TokenForm;
  if (!isForm(req.headers)) parsed = req.headers['content-type'] ? { refused: 'content-type' } : { empty: true };
  else if (!req.body) parsed = { refused: 'body' };
  else parsed = { fields: querystring.parse(req.body.toString()) };
  req.form = parsed;
  return parsed;
}

/**
 * The form's fields, or the error oidc-provider answers to a body it refuses before reading any
 * parameter (no form content type, or a body it could not read).
 */
export function formFields(req: TokenRequest): querystring.ParsedUrlQuery {
  const form = parseForm(req);
  if ('refused' in form) {
    if (form.refused === 'content-type') throw new errors.InvalidRequest(`only ${FORM} content-type bodies are supported on POST ${TOKEN_PATH}`);
    throw new errors.InvalidRequest('failed to parse the request body');
  }
  return 'fields' in form ? form.fields : {};
}

/**
 * True when the client_credentials grant answers the request, exactly as oidc-provider would: a
 * form whose grant_type is client_credentials, or none, or given twice, or a body oidc-provider
 * refuses before reading any parameter. False for anything else (another grant), which goes to
 * oidc-provider untouched. Parses the form once, kept in `req.form`.
 */
export function isClientCredentials(req: TokenRequest): boolean {
  const form = parseForm(req);
  if ('refused' in form) return true;
  // Without a grant_type, or with two, oidc-provider refuses it whatever it is: answered here as well.
  const grantType = 'fields' in form ? form.fields.grant_type : undefined;
  return !grantType || Array.isArray(grantType) || grantType === CLIENT_CREDENTIALS;
}

/** shared/reject_dupes.js: the parameters given twice, named in its words. */
export function dupes(names: string[]): InstanceType<typeof errors.InvalidRequest> {
  return new errors.InvalidRequest(`${conjunction.format(names.map((n) => `'${n}'`))} ${names.length === 1 ? 'parameter' : 'parameters'} must not be provided twice`);
}

/** Refuses a parameter given twice (shared/reject_dupes.js), after clearing it from what the audit reads. */
export function single(params: TokenParams, name: string): string | undefined {
  const value = params[name];
  if (!Array.isArray(value)) return value;
  params[name] = undefined;
  throw dupes([name]);
}
