import { errors, type Provider, type TokenEndpointGrantContext } from 'oidc-provider';
import { clientIdFor } from '../../api/index.ts';
import type { UserRecord } from '../store/index.ts';
import type { IssuerSnapshot, SnapshotClient } from './snapshot.ts';
import { isMfa } from './acr.ts';
import { stepUpScopes } from './step-up.ts';
import { grantOf, isJwt, verifyAccessJwt, type VerifyContext } from './verify.ts';

/** RFC 8693 section 2.1. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 section 3: the only token type this issuer accepts and issues. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const PARAMS = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope'];

/** RFC 8693 section 4.1: who acts, and (nested) who acted before. */
export interface Act {
  sub: string;
  act?: Act;
}

/** What the exchange adds to the issued token (read by extraTokenClaims). */
export interface ExchangeClaims {
  act: Act;
  acr?: string;
  amr?: string[];
}

/** What the audit record of an exchange says about it. */
export interface ExchangeRecord {
  subjectClient: string;
  actor: string;
  audience: string;
  scope: string;
}

const claimsByToken = new WeakMap<object, ExchangeClaims>();
const recordsByContext = new WeakMap<object, ExchangeRecord>();
const refusalsByContext = new WeakMap<object, string>();

/** The claims an access token carries because it was issued by token exchange. */
export const exchangeClaimsOf = (token: object): ExchangeClaims | undefined => claimsByToken.get(token);
/** The exchange a token request made, once it succeeded. */
export const exchangeOf = (ctx: object): ExchangeRecord | undefined => recordsByContext.get(ctx);
/**
 * Why an exchange was refused, for the audit record. oidc-provider answers every
 * invalid_grant with the same description (a client learns nothing from probing); the
 * detail stays here.
 */
export const refusalOf = (ctx: object): string | undefined => refusalsByContext.get(ctx);

/** An access token of this issuer as presented, once verified. */
export interface Presented {
  /** The token's identifier (JWT `jti`, or the opaque token's). */
  jti: string;
  sub: string;
  clientId: string;
  scopes: Set<string>;
  /** Expiry, in seconds since the epoch. */
  exp: number;
  grantId: string | undefined;
  act: Act | undefined;
  acr: string | undefined;
  amr: string[] | undefined;
}

const isAct = (value: unknown): value is Act => typeof value === 'object' && value !== null && typeof (value as { sub?: unknown }).sub === 'string' && ((value as { act?: unknown }).act === undefined || isAct((value as { act?: unknown }).act));
const strings = (value: unknown): string[] | undefined => (Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined);
const scopesOf = (scope: unknown) => new Set(typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

/**
 * A JWT access token (signature, iss, typ, exp, cutoff, revocation, grant) or an opaque one
 * found through the provider: the check token exchange and the authorization decision
 * endpoint (server/issuers/authorize.ts) share.
 */
export async function present(v: VerifyContext, token: string): Promise<Presented | undefined> {
  if (isJwt(token)) {
    const claims = await verifyAccessJwt(v, token);
    if (!claims || typeof claims.sub !== 'string' || typeof claims.client_id !== 'string') return undefined;
    return {
      jti: claims.jti,
      sub: claims.sub,
      clientId: claims.client_id,
      scopes: scopesOf(claims.scope),
      exp: claims.exp,
      grantId: await grantOf(v, claims.jti),
      act: isAct(claims.act) ? claims.act : undefined,
      acr: typeof claims.acr === 'string' ? claims.acr : undefined,
      amr: strings(claims.amr),
    };
  }
  const opaque = await v.provider.AccessToken.find(token);
  if (!opaque || opaque.isExpired || !opaque.clientId || !opaque.exp) return undefined;
  if ((opaque.iat ?? 0) * 1000 < (await v.store.oidc.tokenCutoff(v.path, opaque.clientId))) return undefined;
  if (opaque.grantId && !(await v.provider.Grant.find(opaque.grantId))) return undefined;
  const extra = (opaque.extra ?? {}) as Record<string, unknown>;
  return {
    jti: opaque.jti,
    sub: opaque.accountId ?? opaque.clientId,
    clientId: opaque.clientId,
    scopes: scopesOf(opaque.scope),
    exp: opaque.exp,
    grantId: opaque.grantId,
    act: isAct(extra.act) ? extra.act : undefined,
    acr: typeof extra.acr === 'string' ? extra.acr : undefined,
    amr: strings(extra.amr),
  };
}

export interface ExchangeDeps {
  snapshot: IssuerSnapshot;
  verify: VerifyContext;
  alg: string;
  now(): number;
  findUser(sub: string): Promise<UserRecord | undefined>;
}

const param = (ctx: TokenEndpointGrantContext, name: string): string | undefined => {
  const value = (ctx.oidc.params as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/** The client may use the grant at all: declared here, confidential, enabled, with an explicit allow-list. */
function exchanger(deps: ExchangeDeps, clientId: string): { client: SnapshotClient; subjectClients: Set<string> } {
  const client = deps.snapshot.clients.find((c) => c.clientId === clientId);
  const spec = client?.object.spec;
  if (!client || !spec || (spec.type !== 'web' && spec.type !== 'm2m')) throw new errors.UnauthorizedClient('only a confidential client may exchange tokens');
  if (!spec.tokenExchange?.enabled) throw new errors.UnauthorizedClient('token exchange is not enabled for this client');
  const listed = spec.tokenExchange.subjectClients ?? [];
  if (listed.length === 0) throw new errors.UnauthorizedClient('this client declares no subjectClients whose tokens it may exchange');
  return { client, subjectClients: new Set(listed.map((c) => clientIdFor(deps.snapshot.namespace, c.name))) };
}

/** The one audience of the result: `audience` or `resource`, declared on the requesting client (its first by default). */
function targetOf(ctx: TokenEndpointGrantContext, client: SnapshotClient): string {
  const audience = param(ctx, 'audience');
  const resource = param(ctx, 'resource');
  if (audience && resource && audience !== resource) throw new errors.InvalidTarget('audience and resource name different targets');
  const declared = client.object.spec.audiences ?? [];
  const target = audience ?? resource ?? declared[0];
  if (!target) throw new errors.InvalidTarget('this client declares no audience');
  if (!declared.includes(target)) throw new errors.InvalidTarget(`${target} is not an audience of this client`);
  return target;
}

/**
 * Scopes of the result: within the subject token's and what AccessPolicies let the
 * requesting client have. A step-up scope needs the subject's sign-in to have passed a
 * second factor: asked for explicitly without one it is refused (invalid_scope), left to
 * the default it is dropped.
 */
function scopesFor(ctx: TokenEndpointGrantContext, deps: ExchangeDeps, client: SnapshotClient, subject: Presented, user: UserRecord): string[] {
  const available = client.apiScopes.filter((s) => subject.scopes.has(s));
  // At the shared issuer, the user's own organization's policies say what needs a second factor.
  const stepUp = stepUpScopes(deps.snapshot, deps.snapshot.organization ?? (user.organization || undefined), client);
  const mfa = isMfa(subject.acr, subject.amr);
  const requested = param(ctx, 'scope');
  if (requested === undefined) return available.filter((s) => mfa || !stepUp.has(s));
  const asked = [...scopesOf(requested)];
  const refused = asked.filter((s) => !available.includes(s));
  if (refused.length) throw new errors.InvalidScope('requested scope is not granted to the subject token or not allowed for this client', refused.join(' '));
  const unverified = asked.filter((s) => stepUp.has(s) && !mfa);
  if (unverified.length) throw new errors.InvalidScope('requested scope needs a sign-in with a second factor', unverified.join(' '));
  return asked;
}

/** Registers RFC 8693 token exchange on one issuer's provider. */
export function registerTokenExchange(provider: Provider, deps: ExchangeDeps): void {
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx: TokenEndpointGrantContext) => {
      try {
        await exchangeToken(provider, deps, ctx);
      } catch (error) {
        if (error instanceof errors.OIDCProviderError) refusalsByContext.set(ctx, error.error_detail ?? error.error_description ?? error.error);
        throw error;
      }
    },
    PARAMS,
  );
}

/** One exchange: who asks, for whom, as whom, for which audience and scopes, for how long. */
async function exchangeToken(provider: Provider, deps: ExchangeDeps, ctx: TokenEndpointGrantContext): Promise<void> {
  const { client: requester, subjectClients } = exchanger(deps, ctx.oidc.client.clientId);

  const subjectToken = param(ctx, 'subject_token');
  if (!subjectToken) throw new errors.InvalidRequest('missing required parameter subject_token');
  if (param(ctx, 'subject_token_type') !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  const requested = param(ctx, 'requested_token_type');
  if (requested && requested !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  const actorToken = param(ctx, 'actor_token');
  const actorType = param(ctx, 'actor_token_type');
  if (!actorToken !== !actorType) throw new errors.InvalidRequest('actor_token and actor_token_type go together');
  if (actorType && actorType !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE}`);

  const subject = await present(deps.verify, subjectToken);
  if (!subject) throw new errors.InvalidGrant('subject_token is not an active access token of this issuer');
  if (!subjectClients.has(subject.clientId)) throw new errors.InvalidGrant('subject_token was issued to a client this client may not act for');
  // A user's token always comes from a grant; the result is bound to it, so revoking the grant (sign-out, deprovisioning) ends both.
  const { grantId } = subject;
  if (!grantId) throw new errors.InvalidGrant('subject_token was not issued under a grant of a user');
  const user = await deps.findUser(subject.sub);
  if (!user) throw new errors.InvalidGrant('subject_token does not represent an active user of this organization');

  let actor = requester.clientId;
  if (actorToken) {
    const presented = await present(deps.verify, actorToken);
    if (!presented || presented.clientId !== requester.clientId) throw new errors.InvalidGrant('actor_token is not an active access token of the requesting client');
    actor = presented.sub;
  }

  const audience = targetOf(ctx, requester);
  const scopes = scopesFor(ctx, deps, requester, subject, user);
  const remaining = subject.exp - Math.floor(deps.now() / 1000);
  const ttl = Math.min(deps.snapshot.lifetimes.accessToken, remaining);
  if (ttl <= 0) throw new errors.InvalidGrant('subject_token has expired');
  const scope = scopes.join(' ');

  const resourceServer = new provider.ResourceServer(audience, { audience, scope, accessTokenTTL: ttl, accessTokenFormat: 'jwt', jwt: { sign: { alg: deps.alg as 'ES256' } } });
  const token = new provider.AccessToken({ client: ctx.oidc.client, accountId: user.id, resourceServer, expiresIn: ttl, gty: TOKEN_EXCHANGE, ...(scope ? { scope } : {}), grantId });
  const act: Act = { sub: actor, ...(subject.act ? { act: subject.act } : {}) };
  claimsByToken.set(token, { act, ...(subject.acr ? { acr: subject.acr } : {}), ...(subject.amr ? { amr: subject.amr } : {}) });
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();
  recordsByContext.set(ctx, { subjectClient: subject.clientId, actor, audience, scope });

  ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: token.expiration, ...(scope ? { scope } : {}) };
}
