import * as client from 'openid-client';
import { createRemoteJWKSet, customFetch as joseCustomFetch, jwtVerify, type JWTPayload } from 'jose';
import { SOURCE_ANNOTATION } from '../../../api/index.ts';
import { guardedFetchFunction, type FetchGuardOptions } from './fetch-guard.ts';
import { z } from 'zod';
import type { IdPConnectionObject } from '../../../api/index.ts';
import type { Clock } from '../../clock.ts';
import type { UpstreamSecrets } from '../secrets.ts';
import { attempt, UpstreamError, type Upstream, type UpstreamFinishRequest, type UpstreamIdentity, type UpstreamResult, type UpstreamStarted, type UpstreamStartRequest, type UpstreamFailureReason } from './upstream.ts';

const DISCOVERY_TTL_MS = 10 * 60 * 1000;

/** What the callback is checked against; the shape kept in the pending sign-in. */
export const OidcExpected = z.object({ codeVerifier: z.string(), nonce: z.string(), state: z.string(), redirectUri: z.string() });
export type OidcExpected = z.infer<typeof OidcExpected>;

/**
 * The partner's OpenID Connect IdP, through openid-client: authorization code with PKCE,
 * state and nonce. The ID token is checked twice — by openid-client (with non-repudiation
 * checks, so its signature is verified even over TLS) and by jose against the IdP's JWKS
 * with our clock — and `iss` on the authorization response is required when the IdP
 * advertises RFC 9207, which openid-client enforces.
 */
export class OidcUpstreams implements Upstream {
  readonly type = 'oidc' as const;
  private readonly clock: Clock;
  private readonly secrets: Pick<UpstreamSecrets, 'value'>;
  private readonly servers = new Map<string, { at: number; server: client.ServerMetadata }>();
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  /** How URLs of connections a partner administrator set up (not declared) are fetched. */
  private readonly untrusted: FetchGuardOptions;

  constructor(clock: Clock, secrets: Pick<UpstreamSecrets, 'value'>, untrusted: FetchGuardOptions = {}) {
    this.clock = clock;
    this.secrets = secrets;
    this.untrusted = untrusted;
  }

  /** A connection set up at run time (the portal) names URLs a partner typed: every fetch for it goes through the private-address guard. */
  private guardFor(connection: IdPConnectionObject): ReturnType<typeof guardedFetchFunction> | undefined {
    return connection.metadata.annotations?.[SOURCE_ANNOTATION] !== undefined ? guardedFetchFunction(this.untrusted) : undefined;
  }

  /** The upstream client secret; undefined when none is declared (public client), null when declared but not delivered. */
  private async secretFor(namespace: string, connection: IdPConnectionObject): Promise<string | undefined | null> {
    const ref = connection.spec.oidc?.clientSecretRef;
    if (!ref) return undefined;
    return (await this.secrets.value(namespace, ref)) ?? null;
  }

  async start({ connection, namespace, endpoints, loginHint }: UpstreamStartRequest): Promise<UpstreamResult<UpstreamStarted>> {
    const secret = await this.secretFor(namespace, connection);
    if (secret === null) {
      return { ok: false, failure: { reason: 'secret-missing', message: `Sign-in with ${connection.spec.displayName ?? connection.metadata.name} is not configured yet: its client secret has not been delivered. Contact your administrator.` } };
    }
    return attempt(async () => {
      const expected = await this.authorization(connection, secret, endpoints.redirectUri, loginHint);
      const { url, ...kept } = expected;
      return { url, correlation: expected.state, expected: kept };
    });
  }

  async finish({ connection, namespace, expected, params }: UpstreamFinishRequest): Promise<UpstreamResult<UpstreamIdentity>> {
    const error = params.get('error');
    if (error !== null) {
      return { ok: false, failure: { reason: 'idp-error', code: error.slice(0, 64), message: `Your identity provider refused the sign-in: ${params.get('error_description') ?? error}.` } };
    }
    const pending = OidcExpected.parse(expected);
    return attempt(async () => {
      const secret = await this.secretFor(namespace, connection);
      const url = new URL(pending.redirectUri);
      url.search = params.toString();
      return this.exchange(connection, secret ?? undefined, url, pending);
    });
  }

  /** Discovery is cached; the client configuration is rebuilt per use, so a rotated secret or a moved clock applies at once. */
  private async configuration(connection: IdPConnectionObject, secret: string | undefined): Promise<client.Configuration> {
    const spec = connection.spec.oidc!;
    const insecure = new URL(spec.issuer).protocol === 'http:';
    const guard = this.guardFor(connection);
    const cacheKey = `${guard ? 'guarded ' : ''}${spec.issuer}`;
    const cached = this.servers.get(cacheKey);
    let server = cached && Date.now() - cached.at < DISCOVERY_TTL_MS ? cached.server : undefined;
    if (!server) {
      try {
        const discovered = await client.discovery(new URL(spec.issuer), spec.clientId, undefined, client.None(), { execute: insecure ? [client.allowInsecureRequests] : [], timeout: 10, ...(guard ? { [client.customFetch]: guard } : {}) });
        server = discovered.serverMetadata();
      } catch (error) {
        throw new UpstreamError('discovery-failed', `The identity provider at ${spec.issuer} could not be reached (${messageOf(error)}).`);
      }
      this.servers.set(cacheKey, { at: Date.now(), server });
    }
    // openid-client reads Date.now(); the skew aligns it with the injected clock.
    const metadata: Partial<client.ClientMetadata> = { [client.clockSkew]: Math.round((this.clock.now() - Date.now()) / 1000), [client.clockTolerance]: 60 };
    const config = new client.Configuration(server, spec.clientId, metadata, secret ? client.ClientSecretBasic(secret) : client.None());
    if (insecure) client.allowInsecureRequests(config);
    if (guard) config[client.customFetch] = guard;
    client.enableNonRepudiationChecks(config);
    return config;
  }

  private async authorization(connection: IdPConnectionObject, secret: string | undefined, redirectUri: string, loginHint: string): Promise<OidcExpected & { url: string }> {
    const config = await this.configuration(connection, secret);
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const scopes = connection.spec.oidc!.scopes ?? ['openid', 'email', 'profile'];
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: [...new Set(['openid', ...scopes])].join(' '),
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    return { url: url.href, codeVerifier, nonce, state, redirectUri };
  }

  /** Exchanges the code and returns the verified subject and claims (ID token over userinfo). */
  private async exchange(connection: IdPConnectionObject, secret: string | undefined, callbackUrl: URL, expected: OidcExpected): Promise<UpstreamIdentity> {
    const spec = connection.spec.oidc!;
    const config = await this.configuration(connection, secret);
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: expected.codeVerifier, expectedState: expected.state, expectedNonce: expected.nonce, idTokenExpected: true }, { redirect_uri: expected.redirectUri });
    } catch (error) {
      throw new UpstreamError(oidcReason(error), `The identity provider's answer was refused: ${messageOf(error)}.`, codeOf(error));
    }
    const meta = config.serverMetadata();
    const claims = await this.verifyIdToken(tokens.id_token!, spec.issuer, spec.clientId, meta.jwks_uri, expected.nonce, this.guardFor(connection));
    const subject = claims.sub!;
    let userinfo: Record<string, unknown> = {};
    if (meta.userinfo_endpoint && tokens.access_token) {
      try {
        userinfo = { ...(await client.fetchUserInfo(config, tokens.access_token, subject)) };
      } catch (error) {
        throw new UpstreamError('userinfo-failed', `The identity provider's user information could not be read: ${messageOf(error)}.`);
      }
    }
    return { subject, claims: { ...userinfo, ...claims } };
  }

  private async verifyIdToken(idToken: string, issuer: string, audience: string, jwksUri: string | undefined, nonce: string, guard: ReturnType<typeof guardedFetchFunction> | undefined): Promise<JWTPayload> {
    if (!jwksUri) throw new UpstreamError('no-jwks', 'The identity provider publishes no signing keys (jwks_uri).');
    const key = `${guard ? 'guarded ' : ''}${jwksUri}`;
    let jwks = this.jwks.get(key);
    if (!jwks) {
      jwks = createRemoteJWKSet(new URL(jwksUri), { cooldownDuration: 30_000, ...(guard ? { [joseCustomFetch]: guard } : {}) });
      this.jwks.set(key, jwks);
    }
    try {
      const { payload } = await jwtVerify(idToken, jwks, {
        issuer,
        audience,
        currentDate: new Date(this.clock.now()),
        clockTolerance: 60,
        requiredClaims: ['sub', 'exp', 'iat', 'nonce'],
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
      });
      if (payload.nonce !== nonce) throw new UpstreamError('nonce-mismatch', 'The identity provider answered another sign-in (nonce mismatch).');
      return payload;
    } catch (error) {
      if (error instanceof UpstreamError) throw error;
      throw new UpstreamError(oidcReason(error), `The identity provider's ID token was refused: ${messageOf(error)}.`, codeOf(error));
    }
  }
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const e = error as Error & { error?: string; error_description?: string };
  // openid-client wraps what its fetch threw: the private-address guard's refusal says more than its wrapper.
  if (e.cause instanceof Error && e.cause.name === 'FetchRefused') return e.cause.message;
  return e.error_description ?? e.message;
}

/** The OAuth error the token endpoint sent, or the library's code (openid-client / oauth4webapi, jose). */
function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; error?: unknown };
  if (typeof e?.error === 'string') return e.error.slice(0, 64);
  if (typeof e?.code === 'string') return e.code;
  return undefined;
}

const CLAIM_REASONS: Record<string, UpstreamFailureReason> = { iss: 'wrong-issuer', aud: 'wrong-audience', azp: 'wrong-audience', nonce: 'nonce-mismatch', exp: 'expired', nbf: 'expired', iat: 'expired' };

/** openid-client's and jose's refusals as the broker's reasons. */
export function oidcReason(error: unknown): UpstreamFailureReason {
  const e = error as { code?: unknown; error?: unknown; claim?: unknown; message?: unknown; cause?: { claim?: unknown; message?: unknown } };
  if (typeof e?.error === 'string') return 'token-refused';
  switch (e?.code) {
    case 'OAUTH_INVALID_RESPONSE': {
      // The authorization response itself: openid-client wraps oauth4webapi's error, which names the parameter only in its message.
      const said = `${String(e.message)} ${String(e.cause?.message)}`;
      if (/"iss"/.test(said)) return 'wrong-issuer';
      if (/"state"/.test(said)) return 'state-mismatch';
      return 'upstream-refused';
    }
    case 'ERR_JWT_EXPIRED':
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'OAUTH_KEY_SELECTION_FAILED':
      return 'invalid-signature';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      const claim = typeof e.claim === 'string' ? e.claim : e.cause?.claim;
      return typeof claim === 'string' && Object.hasOwn(CLAIM_REASONS, claim) ? CLAIM_REASONS[claim]! : 'upstream-refused';
    }
    default:
      return 'upstream-refused';
  }
}
