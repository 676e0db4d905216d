import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { errors, type ResourceServer } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { RegisteredClients, type ClientDecision, type Failure, type RegisteredClient } from './client-authentication.ts';
import type { KeyRing } from './keys.ts';
import { assertAudience, MachineTokens, schemaCheck, type ClaimsDropped } from './machine.ts';
import { OIDC_SCOPES } from './client-registrations.ts';
import { errorPage } from './provider.ts';
import type { LocalSigningKey } from './signer.ts';
import { brandingOf, type IssuerSnapshot, type SnapshotClient } from './snapshot.ts';
import { CLIENT_CREDENTIALS, dupes, formFields, parseForm, requestOf, single, type TokenParams, type TokenRequest } from './token-request.ts';

export { constantEquals } from './client-authentication.ts';
export { isClientCredentials, readTokenBody, type TokenRequest } from './token-request.ts';

/**
 * Gatehouse's own answer to an OAuth 2.0 client_credentials request at an issuer's token
 * endpoint, from the issuer's snapshot and its namespace's key ring, with no oidc-provider
 * instance: the same checks, in the same order, and the same answer as oidc-provider 9.13
 * configured by `buildProvider` (provider.ts) gives, success or failure, down to the JWT it
 * signs (test/server/oidc/client-credentials.test.ts asks both the same questions). What a
 * machine's token carries is decided in machine.ts, which provider.ts reads too; the request's
 * body and form are read in token-request.ts, the client authenticated in client-authentication.ts.
 *
 * Followed, from oidc-provider's lib: actions/token.js (the middleware list), shared/cors.js,
 * shared/no_cache.js, helpers/is_valid_scope.js, shared/check_resource.js,
 * actions/grants/client_credentials.js, helpers/grant_authorization.js,
 * models/formats/{opaque,jwt}.js, helpers/jwt.js, helpers/errors.js, helpers/err_out.js and
 * shared/error_handler.js. Header semantics (type-is, accepts) are Koa's own, as oidc-provider
 * reads them through Koa.
 *
 * DPoP is off (provider.ts `features.dPoP`): a DPoP header is ignored, as oidc-provider then
 * ignores it, and every token is a Bearer token.
 *
 * Left to oidc-provider (`isClientCredentials` false, or `leaves` true): another grant; an
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

/** What the audit and risk gates read afterwards, in the shape they read from oidc-provider's `ctx.oidc`. */
export interface TokenDecision {
  route: 'token';
  /** The client once found (authenticated or not), as oidc-provider's `ctx.oidc.client`. */
  client: ClientDecision | undefined;
  /** The request's parameters once assembled (undefined before: a body refused), less the client secret. */
  params: TokenParams | undefined;
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

const BEARER = 'Bearer';
const STATIC_SCOPES = new Set(OIDC_SCOPES);
/** RFC 6749 scope-token syntax (helpers/is_valid_scope.js). */
const SCOPE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/u;

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

export class ClientCredentialsGrant {
  readonly #snapshot: IssuerSnapshot;
  readonly #issuer: string;
  readonly #clock: Clock;
  readonly #machines: MachineTokens;
  readonly #clients: RegisteredClients;
  readonly #signer: LocalSigningKey | undefined;
  /** base64url of the JWS header, and the `.` after it. */
  readonly #header: string;
  readonly #minted = new Map<string, Minted>();
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
    this.#clients = new RegisteredClients(snapshot, issuer);
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
    const registered = this.#clients.claimed(req.headers.authorization, form.fields.client_id);
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
      const fields = formFields(req);
      // helpers/params.js: an empty value is no value.
      let clientIdParam: string | string[] | undefined = fields.client_id || undefined;
      let secretParam: string | string[] | undefined = fields.client_secret || undefined;
      const params: TokenParams = { grant_type: fields.grant_type || undefined, client_id: clientIdParam, scope: fields.scope || undefined, resource: fields.resource || undefined };
      decision.params = params;

      // shared/client_auth.js: duplicates of the client's own parameters first.
      if (Array.isArray(clientIdParam) || Array.isArray(secretParam)) {
        const twice = [...(Array.isArray(clientIdParam) ? ['client_id'] : []), ...(Array.isArray(secretParam) ? ['client_secret'] : [])];
        if (Array.isArray(clientIdParam)) params.client_id = clientIdParam = undefined;
        if (Array.isArray(secretParam)) secretParam = undefined;
        throw dupes(twice);
      }
      const registered = this.#clients.authenticate(headers, clientIdParam, secretParam, decision, out);

      const grantType = single(params, 'grant_type');
      if (grantType === undefined) throw new errors.InvalidRequest("missing required parameter 'grant_type'");
      if (grantType !== CLIENT_CREDENTIALS) return undefined; // another grant: oidc-provider's (isClientCredentials keeps them away)
      if (!registered.mayUseGrant) throw new errors.InvalidRequest('requested grant type is not allowed for this client');
      const scope = single(params, 'scope');
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

  /**
   * What a token carries of the scopes asked (`scope`, once valid): helpers/grant_authorization.js
   * validateClientScope refuses an OIDC scope the client was not given, then the resource
   * server's scopes narrow them. Kept per scope string for the commonest few.
   */
  #grant(registered: RegisteredClient, minted: Minted, scope: string): Granted {
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
  #mint(registered: RegisteredClient, identifier: string): Minted {
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
