import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { decodeJwt } from 'jose';
import { errors } from 'oidc-provider';
import { clientRegistrations } from './client-registrations.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';
import { CLIENT_CREDENTIALS } from './token-request.ts';

/**
 * The clients of an issuer as oidc-provider registers them (client-registrations.ts), and
 * how a token request authenticates one, as oidc-provider 9.13 does it (shared/client_auth.js,
 * shared/cors.js checkClientCORS, helpers/constant_equals.js) for the methods our clients
 * register: client_secret_basic or client_secret_post for a confidential client, none for a
 * public one. Used by Gatehouse's own client_credentials grant (client-credentials.ts).
 */

/** Who asked, in the shape the audit and risk gates read from oidc-provider's `ctx.oidc.client`. */
export interface ClientDecision {
  clientId: string;
  clientAuthMethod: string;
}

/** A client as oidc-provider registers it, with what the client_credentials grant reads of it. */
export interface RegisteredClient {
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
  decision: ClientDecision;
}

/** The error oidc-provider answers, and what it sets on the way (shared/error_handler.js, helpers/err_out.js). */
export type Failure = InstanceType<typeof errors.OIDCProviderError> & { scope?: string };

/** The registered methods a client secret authenticates (shared/client_auth.js). */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);
/** Characters refused in a client id or secret from the Authorization header (consts/client_attributes.js). */
const NO_VSCHAR = /[^\x20-\x7E]/;

export class RegisteredClients {
  readonly #clients = new Map<string, RegisteredClient>();
  /** `Basic realm="…", ` for WWW-Authenticate. */
  readonly #realm: string;

  constructor(snapshot: IssuerSnapshot, issuer: string) {
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
   * The registered client a request claims to be (Basic, else `client_id`), unverified:
   * undefined when it claims none, or one that is not registered.
   */
  claimed(authorization: string | undefined, clientIdParam: unknown): RegisteredClient | undefined {
    const claimed = basicClaim(authorization) ?? clientIdParam;
    return typeof claimed === 'string' ? this.#clients.get(claimed) : undefined;
  }

  /**
   * shared/client_auth.js: the client the request authenticates, found (`decision.client`, even
   * when it then fails) and authenticated, or the error oidc-provider answers; a 401 to a request
   * with an Authorization header sets WWW-Authenticate in `out`.
   */
  authenticate(headers: IncomingHttpHeaders, clientIdParam: string | undefined, secretParam: string | undefined, decision: { client: ClientDecision | undefined }, out: Record<string, string>): RegisteredClient {
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
        const basic = basicParts(authorization);
        if (!basic) throw new errors.InvalidRequest('invalid authorization header value format');
        let basicId: string;
        try {
          basicId = decodeAuthToken(basic[0]);
          secret = decodeAuthToken(basic[1]);
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
      if (origin && !originAllowed(origin, registered)) {
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
}

/** oidc-provider's default clientBasedCORS: a public client's redirect URIs' origins; never a confidential client's. */
function originAllowed(origin: string, registered: RegisteredClient): boolean {
  if (origin === 'null') return false;
  if (registered.authMethod === 'none') return registered.redirectUris.some((uri) => URL.parse(uri)?.origin === origin);
  return false;
}

/** A quoted-string's content (helpers/append_www_authenticate.js). */
function quoted(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/** The client_id a Basic Authorization header claims, unverified; undefined when it claims none readable. */
function basicClaim(authorization: string | undefined): string | undefined {
  const basic = authorization === undefined ? undefined : basicParts(authorization);
  try {
    return basic && decodeAuthToken(basic[0]);
  } catch {
    return undefined;
  }
}

/** A Basic Authorization header's client id and secret, still form-encoded; undefined when it is not one. */
function basicParts(authorization: string): [string, string] | undefined {
  const parts = authorization.split(' ');
  if (parts.length !== 2 || parts[0]!.toLowerCase() !== 'basic' || !isValidBase64(parts[1]!)) return undefined;
  const decoded = Buffer.from(parts[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i === -1 ? undefined : [decoded.slice(0, i), decoded.slice(i + 1)];
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
