import { randomFillSync, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import * as querystring from 'node:querystring';
import Koa from 'koa';
import { decodeJwt } from 'jose';
import { errors, type ResourceServer } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { providerRoutes } from '../issuers/routes.ts';
import type { KeyRing } from './keys.ts';
import { assertAudience, MachineTokens, schemaCheck, type ClaimsDropped } from './machine.ts';
import { clientRegistrations, errorPage, OIDC_SCOPES } from './provider.ts';
import type { LocalSigningKey } from './signer.ts';
import { brandingOf, type IssuerSnapshot, type SnapshotClient } from './snapshot.ts';

/**
 * Gatehouse's own answer to an OAuth 2.0 client_credentials request at an issuer's token
 * endpoint, from the issuer's snapshot and its namespace's key ring, with no oidc-provider
 * instance: the same checks, in the same order, and the same answer as oidc-provider 9.13
 * configured by `buildProvider` (provider.ts) gives, success or failure, down to the JWT it
 * signs (test/server/oidc/client-credentials.test.ts asks both the same questions). What a
 * machine's token carries is decided in machine.ts, which provider.ts reads too.
 *
 * Followed, from oidc-provider's lib: actions/token.js (the middleware list), shared/cors.js,
 * shared/no_cache.js, shared/selective_body.js, shared/assemble_params.js and helpers/params.js,
 * shared/client_auth.js, shared/reject_dupes.js, helpers/is_valid_scope.js,
 * shared/check_resource.js, actions/grants/client_credentials.js, helpers/grant_authorization.js,
 * models/formats/{opaque,jwt}.js,
 * helpers/jwt.js, helpers/errors.js, helpers/err_out.js and shared/error_handler.js. Header semantics (type-is, accepts) are Koa's own, as oidc-provider
 * reads them through Koa.
 *
 * DPoP is off (provider.ts `features.dPoP`): a DPoP header is ignored, as oidc-provider then
 * ignores it, and every token is a Bearer token.
 *
 * Left to oidc-provider (`isClientCredentials` false, or `answer` undefined): another grant; an
 * opaque token (a client with no audience asking none: kept in the store, not signed).
 */

export interface ClientCredentialsContext {
  /** The issuer's snapshot (an organization's issuer, or the namespace's shared one). */
  snapshot: IssuerSnapshot;
  /** The namespace's key ring: the first key of the Workspace's algorithm signs, as oidc-provider's keystore picks it. */
  ring: KeyRing;
  /** The issuer identifier (`iss`, and the realm of WWW-Authenticate). */
  issuer: string;
  clock: Clock;
  onClaimsDropped?: ClaimsDropped;
}

/** A POST to `{issuer}/token`: its headers and its body as read by `readTokenBody` (undefined: it could not be read). */
export interface TokenRequest {
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  /** The parsed form, kept by `isClientCredentials` so `answer` does not parse it again. */
  form?: TokenForm;
}

/** What the audit and risk gates read afterwards, in the shape they read from oidc-provider's `ctx.oidc`. */
export interface TokenDecision {
  route: 'token';
  /** The client once found (authenticated or not), as oidc-provider's `ctx.oidc.client`. */
  client: { clientId: string; clientAuthMethod: string } | undefined;
  /** The request's parameters once assembled (undefined before: a body refused), less the client secret. */
  params: Record<string, string | string[] | undefined> | undefined;
  entities: Record<string, never>;
}

export interface TokenAnswer {
  status: number;
  /** Lower-case names; content-length is the caller's. */
  headers: Record<string, string>;
  /** JSON, or the error page when the client prefers HTML (as oidc-provider's renderError). */
  body: Record<string, unknown> | string;
  oidc: TokenDecision;
  /** A 500's cause, for the server's log (oidc-provider emits `server_error`). */
  error?: unknown;
}

/** The form fields of a token request as oidc-provider reads them (`querystring.parse`), or why there are none. */
type TokenForm = { fields: querystring.ParsedUrlQuery } | { refused: 'content-type' | 'body' } | { empty: true };

/** oidc-provider's limit on a form body (shared/selective_body.js). */
export const BODY_LIMIT = 56 * 1024;

const FORM = 'application/x-www-form-urlencoded';
const TOKEN_PATH = providerRoutes().token;
const BEARER = 'Bearer';
const CLIENT_CREDENTIALS = 'client_credentials';
const STATIC_SCOPES = new Set(OIDC_SCOPES);
/** RFC 6749 scope-token syntax (helpers/is_valid_scope.js). */
const SCOPE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/u;
/** Characters refused in a client id or secret from the Authorization header (consts/client_attributes.js). */
const NO_VSCHAR = /[^\x20-\x7E]/;
const conjunction = new Intl.ListFormat('en', { type: 'conjunction' });

/**
 * Koa's request, for the header semantics oidc-provider reads through it on the rarer paths
 * (`is`, `accepts`): the same code, so the same answers.
 */
const koaRequest = new Koa().request;
function requestOf(headers: IncomingHttpHeaders): Koa.Request {
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

function parseForm(req: TokenRequest): TokenForm {
  if (req.form) return req.form;
  let parsed: TokenForm;
  if (!isForm(req.headers)) parsed = req.headers['content-type'] ? { refused: 'content-type' } : { empty: true };
  else if (!req.body) parsed = { refused: 'body' };
  else parsed = { fields: querystring.parse(req.body.toString()) };
  req.form = parsed;
  return parsed;
}

/**
 * True when this module answers the request, exactly as oidc-provider would: a form whose
 * grant_type is client_credentials, or none, or given twice, or a body oidc-provider refuses
 * before reading any parameter. False for anything else (another grant),
 * which goes to oidc-provider untouched. Parses the form once, kept in `req.form`.
 */
export function isClientCredentials(req: TokenRequest): boolean {
  const form = parseForm(req);
  if ('refused' in form) return true;
  // Without a grant_type, or with two, oidc-provider refuses it whatever it is: answered here as well.
  const grantType = 'fields' in form ? form.fields.grant_type : undefined;
  return !grantType || Array.isArray(grantType) || grantType === CLIENT_CREDENTIALS;
}

/** A client as oidc-provider registers it (clientRegistrations), with what this grant reads of it. */
interface Registered {
  /** Its declaration; undefined for a client of the issuer's own (never one that may use this grant). */
  client: SnapshotClient | undefined;
  clientId: string;
  authMethod: string;
  secret: string | undefined;
  mayUseGrant: boolean;
  /** Its OIDC scopes (client metadata `scope`), undefined when it has none. */
  oidcScopes: Set<string> | undefined;
  redirectUris: readonly string[];
  defaultResource: string | undefined;
  decision: { clientId: string; clientAuthMethod: string };
}

/** What a token for one client and resource is made of, worked out once. */
interface Minted {
  client: SnapshotClient;
  server: ResourceServer;
  granted: Set<string>;
  /** What a token carries for each scope string asked (see #grant). */
  scopes: Map<string, Granted>;
  /** The payload's JSON up to the jti's value: the mapped claims, then `"jti":"`. */
  head: string;
  /** `","sub":…,"iat":` */
  subject: string;
  /** `,"client_id":…,"iss":…,"aud":…}` */
  tail: string;
}

/** The scope a token carries, and its member of the payload's JSON. */
interface Granted {
  scope: string | undefined;
  json: string;
}
const NO_SCOPE: Granted = { scope: undefined, json: '' };
const SCOPES_KEPT = 32;
/** The registered methods a client secret authenticates (shared/client_auth.js). */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

/** The error oidc-provider answers, and what it sets on the way (shared/error_handler.js, helpers/err_out.js). */
type Failure = InstanceType<typeof errors.OIDCProviderError> & { scope?: string };

export class ClientCredentialsGrant {
  readonly #snapshot: IssuerSnapshot;
  readonly #issuer: string;
  readonly #clock: Clock;
  readonly #machines: MachineTokens;
  readonly #clients = new Map<string, Registered>();
  readonly #signer: LocalSigningKey | undefined;
  /** base64url of the JWS header, and the `.` after it. */
  readonly #header: string;
  readonly #minted = new Map<string, Minted>();
  /** `Basic realm="…", ` for WWW-Authenticate. */
  readonly #realm: string;
  #branding: ReturnType<typeof brandingOf> | undefined;

  constructor(context: ClientCredentialsContext) {
    const { snapshot, ring, issuer, clock } = context;
    this.#snapshot = snapshot;
    this.#issuer = issuer;
    this.#clock = clock;
    const alg = snapshot.workspace?.spec.signingAlgorithm ?? 'ES256';
    this.#machines = new MachineTokens(snapshot, alg, schemaCheck(snapshot, context.onClaimsDropped));
    // oidc-provider's keystore.selectForSign({ alg }): the first key of the algorithm, in the ring's order.
    this.#signer = ring.signers.find((k) => k.alg === alg);
    this.#header = `${Buffer.from(JSON.stringify({ alg, typ: 'at+jwt', kid: this.#signer?.kid })).toString('base64url')}.`;
    this.#realm = `Basic realm="${quoted(issuer)}", `;
    const declared = new Map(snapshot.clients.map((c) => [c.clientId, c]));
    for (const metadata of clientRegistrations(snapshot, issuer)) {
      const clientId = metadata.client_id;
      const c = declared.get(clientId);
      // provider.ts's clientDefaults fill what a registration leaves out.
      const authMethod = metadata.token_endpoint_auth_method ?? 'client_secret_basic';
      this.#clients.set(clientId, {
        client: c,
        clientId,
        authMethod,
        secret: metadata.client_secret,
        mayUseGrant: c !== undefined && (metadata.grant_types ?? ['authorization_code']).includes(CLIENT_CREDENTIALS),
        oidcScopes: metadata.scope ? new Set(metadata.scope.split(' ')) : undefined,
        redirectUris: metadata.redirect_uris ?? [],
        defaultResource: c?.object.spec.audiences?.[0],
        decision: { clientId, clientAuthMethod: authMethod },
      });
    }
  }

  /**
   * Whether `answer` leaves this request to oidc-provider, told before anything is done (so the
   * registry hands it over before any gate runs, and the gates run once, in the provider): an
   * opaque token — a registered client with no audience that names no resource. The client is
   * the one the request claims (Basic, else `client_id`): when that claim is false, both answer
   * the same refusal, so only who answers depends on it.
   */
  leaves(req: TokenRequest): boolean {
    const form = parseForm(req);
    if (!('fields' in form) || form.fields.resource) return false;
    const claimed = basicClaim(req.headers.authorization) ?? form.fields.client_id;
    const registered = typeof claimed === 'string' ? this.#clients.get(claimed) : undefined;
    return registered !== undefined && registered.defaultResource === undefined;
  }

  /**
   * oidc-provider's answer to `req` (see `isClientCredentials`), or undefined when it is
   * oidc-provider's to give (see `leaves`).
   */
  async answer(req: TokenRequest): Promise<TokenAnswer | undefined> {
    const { headers } = req;
    const origin = headers.origin;
    // shared/cors.js, then shared/no_cache.js: set before anything can fail.
    const out: Record<string, string> = { vary: 'Origin', 'access-control-allow-origin': origin || '*', 'access-control-expose-headers': 'WWW-Authenticate', 'cache-control': 'no-store' };
    const decision: TokenDecision = { route: 'token', client: undefined, params: undefined, entities: {} };
    try {
      const form = parseForm(req);
      if ('refused' in form) {
        if (form.refused === 'content-type') throw new errors.InvalidRequest(`only ${FORM} content-type bodies are supported on POST ${TOKEN_PATH}`);
        throw new errors.InvalidRequest('failed to parse the request body');
      }
      const fields = 'fields' in form ? form.fields : {};
      // helpers/params.js: an empty value is no value.
      let clientIdParam: string | string[] | undefined = fields.client_id || undefined;
      let secretParam: string | string[] | undefined = fields.client_secret || undefined;
      const params: Record<string, string | string[] | undefined> = { grant_type: fields.grant_type || undefined, client_id: clientIdParam, scope: fields.scope || undefined, resource: fields.resource || undefined };
      decision.params = params;

      // shared/client_auth.js: duplicates of the client's own parameters first.
      if (Array.isArray(clientIdParam) || Array.isArray(secretParam)) {
        const twice = [...(Array.isArray(clientIdParam) ? ['client_id'] : []), ...(Array.isArray(secretParam) ? ['client_secret'] : [])];
        if (Array.isArray(clientIdParam)) params.client_id = clientIdParam = undefined;
        if (Array.isArray(secretParam)) secretParam = undefined;
        throw dupes(twice);
      }
      const registered = this.#authenticate(headers, clientIdParam, secretParam, decision, out);

      const grantType = params.grant_type;
      if (Array.isArray(grantType)) {
        params.grant_type = undefined;
        throw dupes(['grant_type']);
      }
      if (grantType === undefined) throw new errors.InvalidRequest("missing required parameter 'grant_type'");
      if (grantType !== CLIENT_CREDENTIALS) return undefined; // another grant: oidc-provider's (isClientCredentials keeps them away)
      if (!registered.mayUseGrant) throw new errors.InvalidRequest('requested grant type is not allowed for this client');
      if (Array.isArray(params.scope)) {
        params.scope = undefined;
        throw dupes(['scope']);
      }
      const scope = params.scope;
      if (scope !== undefined && !SCOPE_SYNTAX.test(scope)) throw new errors.InvalidScope('scope contains invalid characters', undefined as unknown as string);

      // shared/check_resource.js with provider.ts's defaultResource and getResourceServerInfo.
      if (params.resource === undefined) params.resource = registered.defaultResource;
      const { resource } = params;
      if (!resource || (Array.isArray(resource) && resource.length === 0)) return undefined; // an opaque token: oidc-provider's
      const identifiers = Array.isArray(resource) ? resource : [resource];
      let minted: Minted | undefined;
      for (const identifier of identifiers) {
        const href = URL.parse(identifier)?.href;
        if (!href) throw new errors.InvalidTarget('resource indicator must be an absolute URI');
        if (href.includes('#')) throw new errors.InvalidTarget('resource indicator must not contain a fragment component');
        const found = this.#mint(registered, identifier);
        minted ??= found;
      }
      // Resolved resource servers are kept by identifier: the same one asked twice is one.
      const servers = identifiers.length === 1 ? 1 : new Set(identifiers).size;
      const granted = scope === undefined ? NO_SCOPE : (minted!.scopes.get(scope) ?? this.#grant(registered, minted!, scope));
      if (servers !== 1 || !minted) throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
      return await this.#issue(minted, granted, decision, out);
    } catch (thrown) {
      return this.#failure(thrown, headers, decision, out);
    }
  }

  /** shared/client_auth.js, for the methods our clients register (client_secret_basic, and none for public clients). */
  #authenticate(headers: IncomingHttpHeaders, clientIdParam: string | undefined, secretParam: string | undefined, decision: TokenDecision, out: Record<string, string>): Registered {
    const { authorization } = headers;
    const attestation = headers['oauth-client-attestation'];
    // Attestation-based client authentication is off (features.attestClientAuth): its headers only refuse.
    const attested = attestation !== undefined || headers['oauth-client-attestation-pop'] !== undefined;
    try {
      let clientId: unknown;
      let secret: string | undefined;
      let method: 'secret' | 'attestation' | 'none';
      const mechanisms = (authorization ? 1 : 0) + (secretParam ? 1 : 0);
      if (mechanisms > 1 || (mechanisms > 0 && attested)) throw new errors.InvalidRequest('client authentication must only be provided using one mechanism');
      if (clientIdParam !== undefined) clientId = clientIdParam;
      if (secretParam) {
        secret = secretParam;
        method = 'secret';
      } else if (authorization !== undefined) {
        const parts = authorization.split(' ');
        if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'basic' || !isValidBase64(parts[1]!)) throw new errors.InvalidRequest('invalid authorization header value format');
        const decoded = Buffer.from(parts[1]!, 'base64').toString('utf8');
        const i = decoded.indexOf(':');
        if (i === -1) throw new errors.InvalidRequest('invalid authorization header value format');
        let basicId: string;
        try {
          basicId = decodeAuthToken(decoded.slice(0, i));
          secret = decodeAuthToken(decoded.slice(i + 1));
        } catch {
          throw new errors.InvalidRequest('client_id and client_secret in the authorization header are not properly encoded');
        }
        if (clientId !== undefined && basicId !== clientId) throw new errors.InvalidRequest('client_id mismatch');
        clientId = basicId;
        if (!secret) throw new errors.InvalidRequest('client_secret must be provided in the Authorization header');
        method = 'secret';
      } else if (attestation !== undefined) {
        let sub: unknown;
        try {
          if (typeof attestation !== 'string') throw new TypeError('invalid JWT.decode input type');
          ({ sub } = decodeJwt(attestation));
        } catch {
          throw new errors.InvalidRequest('invalid OAuth-Client-Attestation format');
        }
        if (!sub) throw new errors.InvalidClientAuth('sub (JWT subject) must be provided in the OAuth-Client-Attestation JWT');
        if (clientId !== undefined && sub !== clientId) throw new errors.InvalidRequest('client_id mismatch');
        clientId = sub;
        method = 'attestation';
      } else method = 'none';
      if (!clientId) throw new errors.InvalidRequest('no client authentication mechanism provided');

      const registered = typeof clientId === 'string' ? this.#clients.get(clientId) : undefined;
      if (!registered) throw new errors.InvalidClientAuth('client not found');
      decision.client = registered.decision;
      // shared/cors.js checkClientCORS, on the client's assignment: the default clientBasedCORS.
      const { origin } = headers;
      if (origin && !this.#originAllowed(origin, registered)) {
        delete out['access-control-allow-origin'];
        throw new errors.InvalidRequest(`origin ${origin} not allowed for client: ${registered.clientId}`);
      }
      if (attested && clientIdParam !== undefined) throw new errors.InvalidRequest('client authentication must only be provided using one mechanism');
      // A secret (Basic or post) for a client registered for either; none for a public client; no client is registered for attestation.
      const registeredFor = SECRET_METHODS.has(registered.authMethod) ? 'secret' : registered.authMethod === 'none' ? 'none' : 'other';
      if (method !== registeredFor) throw new errors.InvalidClientAuth('the provided authentication mechanism does not match the registered client authentication method');
      if (method === 'secret' && !constantEquals(registered.secret ?? '', secret!)) throw new errors.InvalidClientAuth('invalid secret provided');
      return registered;
    } catch (thrown) {
      if ((thrown as Failure).statusCode === 401 && authorization !== undefined) {
        const failure = thrown as Failure;
        out['www-authenticate'] = `${this.#realm}error="${quoted(failure.message)}", error_description="${quoted(failure.error_description ?? '')}"`;
      }
      throw thrown;
    }
  }

  /** oidc-provider's default clientBasedCORS: a public client's redirect URIs' origins; never a confidential client's. */
  #originAllowed(origin: string, registered: Registered): boolean {
    if (origin === 'null') return false;
    if (registered.authMethod === 'none') return registered.redirectUris.some((uri) => URL.parse(uri)?.origin === origin);
    return false;
  }

  /**
   * What a token carries of the scopes asked (`scope`, once valid): helpers/grant_authorization.js
   * validateClientScope refuses an OIDC scope the client was not given, then the resource
   * server's scopes narrow them. Kept per scope string for the commonest few.
   */
  #grant(registered: Registered, minted: Minted, scope: string): Granted {
    const requested = scope.split(' ');
    const allowed = registered.oidcScopes;
    if (allowed) for (const s of requested) if (STATIC_SCOPES.has(s) && !allowed.has(s)) throw new errors.InvalidScope('requested scope is not allowed', s);
    const kept = [...new Set(requested.filter((s) => minted.granted.has(s)))];
    const granted: Granted = kept.length === 0 ? NO_SCOPE : { scope: kept.join(' '), json: `,"scope":${JSON.stringify(kept.join(' '))}` };
    // Scope strings are the client's to choose: only so many are kept.
    if (minted.scopes.size < SCOPES_KEPT) minted.scopes.set(scope, granted);
    return granted;
  }

  /** The resource server of `identifier` for this client, and what its tokens are made of (provider.ts getResourceServerInfo → machine.ts). */
  #mint(registered: Registered, identifier: string): Minted {
    const key = `${registered.clientId} ${identifier}`;
    let minted = this.#minted.get(key);
    if (minted) return minted;
    const { client } = registered;
    assertAudience(client, identifier);
    const server = this.#machines.resourceServer(client, identifier);
    const json = (v: string) => JSON.stringify(v);
    minted = {
      client,
      server,
      granted: new Set(server.scope.split(' ')),
      scopes: new Map(),
      head: '',
      subject: `","sub":${json(registered.clientId)},"iat":`,
      tail: `,"client_id":${json(registered.clientId)},"iss":${json(this.#issuer)},"aud":${json(server.audience ?? identifier)}}`,
    };
    this.#minted.set(key, minted);
    return minted;
  }

  /** models/formats/jwt.js: the payload, signed as helpers/jwt.js signs with an external key; then helpers/grant_response.js. */
  async #issue(minted: Minted, granted: Granted, decision: TokenDecision, out: Record<string, string>): Promise<TokenAnswer> {
    // The lifetime is the policy's, on the server's clock (capped at the contract's end); the
    // stamps are the system clock's, as oidc-provider stamps every other token of the issuer
    // (models/base_token.js: epochTime()), so a machine's tokens and a user's share one timeline.
    const expiresIn = this.#machines.ttl(minted.server.accessTokenTTL, this.#clock.now());
    const iat = Math.floor(Date.now() / 1000);
    // extraTokenClaims: the machine's mapped claims (may refuse: a required claim is missing).
    if (!minted.head) {
      const claims = JSON.stringify(await this.#machines.claims(minted.client));
      minted.head = `${claims.length > 2 ? `${claims.slice(0, -1)},` : '{'}"jti":"`;
    }
    const signer = this.#signer;
    if (!signer) throw new Error("resolved Resource Server jwt configuration has no corresponding key in the provider's keystore");
    const payload = `${minted.head}${tokenId()}${minted.subject}${iat},"exp":${iat + expiresIn}${granted.json}${minted.tail}`;
    const input = `${this.#header}${Buffer.from(payload).toString('base64url')}`;
    // The signing input is base64url: ASCII, so latin1 is its exact (and quickest) encoding.
    const signature = await signer.sign(Buffer.from(input, 'latin1'));
    const accessToken = `${input}.${Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64url')}`;
    out['content-type'] = 'application/json; charset=utf-8';
    const { scope } = granted;
    return { status: 200, headers: out, body: scope === undefined ? { access_token: accessToken, expires_in: expiresIn, token_type: BEARER } : { access_token: accessToken, expires_in: expiresIn, scope, token_type: BEARER }, oidc: decision };
  }

  /** shared/error_handler.js with helpers/err_out.js: the error as JSON, or as provider.ts's error page to a client that prefers HTML. */
  #failure(thrown: unknown, headers: IncomingHttpHeaders, decision: TokenDecision, out: Record<string, string>): TokenAnswer {
    const failure = thrown instanceof errors.OIDCProviderError ? (thrown as Failure) : undefined;
    const status = failure?.statusCode || 500;
    const body: Record<string, unknown> =
      failure?.expose === true ? { error: failure.message, ...(failure.error_description !== undefined ? { error_description: failure.error_description } : {}), ...(failure.scope !== undefined ? { scope: failure.scope } : {}) } : { error: 'server_error', error_description: 'oops! something went wrong' };
    const answer: TokenAnswer = { status, headers: out, body, oidc: decision, ...(failure?.expose === true ? {} : { error: thrown }) };
    if (headers.accept !== undefined && requestOf(headers).accepts('json', 'html') === 'html') {
      this.#branding ??= brandingOf(this.#snapshot);
      out['content-type'] = 'text/html; charset=utf-8';
      answer.body = errorPage(this.#branding, body as { error: string; error_description?: string });
    } else out['content-type'] = 'application/json; charset=utf-8';
    return answer;
  }
}

function dupes(names: string[]): InstanceType<typeof errors.InvalidRequest> {
  return new errors.InvalidRequest(`${conjunction.format(names.map((n) => `'${n}'`))} ${names.length === 1 ? 'parameter' : 'parameters'} must not be provided twice`);
}

/** A quoted-string's content (helpers/append_www_authenticate.js). */
function quoted(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** The client_id a Basic Authorization header claims, unverified; undefined when it claims none readable. */
function basicClaim(authorization: string | undefined): string | undefined {
  const parts = authorization?.split(' ');
  if (parts?.length !== 2 || parts[0]!.toLowerCase() !== 'basic' || !isValidBase64(parts[1]!)) return undefined;
  const decoded = Buffer.from(parts[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  try {
    return i === -1 ? undefined : decodeAuthToken(decoded.slice(0, i));
  } catch {
    return undefined;
  }
}

function isValidBase64(input: string): boolean {
  const match = /^([A-Za-z0-9+/]*)(={0,2})$/u.exec(input);
  if (!match?.[1]) return false;
  const remainder = match[1].length % 4;
  if (!match[2]) return remainder !== 1;
  return (match[1].length + match[2].length) % 4 === 0 && match[2].length === 4 - remainder;
}

/** The form-encoding of client_secret_basic (RFC 6749 §2.3.1), as oidc-provider decodes it. */
function decodeAuthToken(token: string): string {
  const decoded = token.includes('%') || token.includes('+') ? decodeURIComponent(token.replace(/\+/g, '%20')) : token;
  if (NO_VSCHAR.test(decoded)) throw new Error('invalid character found');
  return decoded;
}

/** Scratch space for `constantEquals`, reused: comparisons are synchronous. */
let scratchA = Buffer.alloc(1024);
let scratchB = Buffer.alloc(1024);

/**
 * helpers/constant_equals.js with its minimum of 1000 bytes (Client#compareClientSecret): both
 * strings written into zeroed buffers of one length, compared in constant time.
 */
export function constantEquals(expected: string, actual: string): boolean {
  const length = Math.max(Buffer.byteLength(expected), Buffer.byteLength(actual), 1000);
  if (length > scratchA.length) {
    scratchA = Buffer.alloc(length);
    scratchB = Buffer.alloc(length);
  }
  const a = scratchA.subarray(0, length).fill(0);
  const b = scratchB.subarray(0, length).fill(0);
  a.write(expected);
  b.write(actual);
  return timingSafeEqual(a, b);
}

/** helpers/nanoid.js: 43 characters of its URL alphabet (256 bits) from a pool of random bytes. */
const ALPHABET = Buffer.from('useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict', 'latin1');
const POOL_SIZE = 4096;
const TOKEN_ID_LENGTH = 43;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function tokenId(): string {
  if (offset + TOKEN_ID_LENGTH > POOL_SIZE) {
    randomFillSync(pool);
    for (let i = 0; i < POOL_SIZE; i++) pool[i] = ALPHABET[pool[i]! & 63]!;
    offset = 0;
  }
  const id = pool.toString('latin1', offset, offset + TOKEN_ID_LENGTH);
  offset += TOKEN_ID_LENGTH;
  return id;
}
