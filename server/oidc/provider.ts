import { Provider, errors, type Configuration, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Store, UserRecord } from '../store/index.ts';
import { storeAdapter } from './adapter.ts';
import { tokenClaims } from './claims.ts';
import { escapeHtml, LOGOUT_SCRIPT, page, type PageBranding } from './html.ts';
import { assertAudience, MachineTokens, schemaCheck, type ClaimsDropped } from './machine.ts';
import type { UserAdmission } from './admission.ts';
import type { KeyRing } from './keys.ts';
import { cappedTo, contractsEnd, lifetimesOf, resolveSessions, sessionTtl, type Lifetimes, type SessionPolicy } from './lifetimes.ts';
import { brandingOf, grantableApiScopes, subjectClaims, type IssuerSnapshot } from './snapshot.ts';
import { organizationChain } from '../../api/index.ts';
import { standingOf } from './standing.ts';
import { exchangeClaimsOf, registerTokenExchange } from './token-exchange.ts';
import { ACR_VALUES } from './acr.ts';
import { approvalScopes, withApprovals } from './approval.ts';
import { holders } from './verify.ts';
import { mayIntrospect, mayRevoke, NOT_YOURS } from './token-access.ts';
import { providerRoutes } from '../issuers/routes.ts';
import { ACCOUNT_CLIENT_ID } from './account.ts';
import { clientRegistrations, OIDC_SCOPES } from './client-registrations.ts';
import { interactionPolicyFor } from './interaction-policy.ts';

/** Where each endpoint is, from the issuers' route table, which also says what gates it (server/issuers/routes.ts). */
const ROUTES = providerRoutes();

export interface ProviderContext {
  store: Store;
  clock: Clock;
  /**
   * The issuer identifier: `{publicUrl}{path}`, or a vanity origin of the organization. Either
   * way the store keys models by `snapshot.path`, so a vanity issuer shares the organization's
   * grants, refresh tokens and revocations (stored models carry no `iss`; JWTs are checked by it).
   */
  issuer: string;
  cookieKeys: string[];
  /** At a namespace's shared issuer: whether the user's organization admits this request (its networks and rate). */
  admitsUser: UserAdmission;
  /** A claim left out of a token because its value does not fit the Workspace's claimSchema (audited; never the value). */
  onClaimsDropped?: ClaimsDropped;
  /** Called after a JWT access token bound to a grant is issued, so it can be revoked with the grant. */
  onJwtIssued(issuer: string, jti: string, grantId: string | null, expiresAt: number): Promise<void>;
}

/** The page an OAuth error is shown as to a browser (oidc-provider's renderError): client-credentials.ts answers the same. */
export function errorPage(branding: PageBranding, out: { error: string; error_description?: string }): string {
  return page(branding, 'Sign-in failed', `<p class="error">${escapeHtml(out.error_description ?? out.error)}</p>`);
}

/** One oidc-provider instance for one issuer, configured from its snapshot. */
export function buildProvider(snapshot: IssuerSnapshot, ring: KeyRing, context: ProviderContext): Provider {
  const { store, clock } = context;
  const { issuer } = context;
  const canonical = new URL(issuer).pathname !== '/';
  const alg = snapshot.workspace?.spec.signingAlgorithm ?? 'ES256';
  const byClientId = new Map(snapshot.clients.map((c) => [c.clientId, c]));
  // At the shared issuer the ID token carries the signed-in user's organization's claims, whichever organization that is.
  const subjects =
    snapshot.organization === undefined
      ? [...snapshot.organizations.keys()]
          .flatMap((o) => snapshot.settingsOf(o)?.claims ?? [])
          .filter((c) => c.value.tokens.includes('id'))
          .map((c) => c.value.name)
      : [];
  const idClaimNames = [...new Set([...snapshot.clients.flatMap((c) => c.claims.id.map((claim) => claim.name)), ...subjects])];
  const branding = brandingOf(snapshot);
  // Cookie names carry the issuer, because every issuer of the host sets its cookies at path "/".
  // A vanity issuer's cookies are its host's alone, and named apart all the same.
  const tag = (canonical ? snapshot.path : `${snapshot.path}_${new URL(issuer).host}`).replace(/[^a-z0-9]+/g, '_');

  const userChain = (user: UserRecord | undefined) => (user ? organizationChain(snapshot.organizations, user.organization) : snapshot.chain);
  /** A subject's token lifetimes: the issuer's, or at the shared issuer its organization's effective ones. */
  const lifetimesFor = (organization: string | undefined): Lifetimes => {
    if (snapshot.organization !== undefined) return snapshot.lifetimes;
    const settings = snapshot.settingsOf(organization);
    return settings ? lifetimesOf(settings) : snapshot.lifetimes;
  };
  /**
   * Each user's organization as last read from the store, for what must be answered without
   * waiting (ttl functions are synchronous) or without a store query per token (introspection).
   * A user's organization is fixed while its record lasts, but a name erased can be declared
   * again in another organization: what is remembered holds for one configuration version
   * (a carried issuer's snapshot moves to the next one, server/issuers/carry.ts).
   */
  const organizationOf = new Map<string, string>();
  let rememberedAt = snapshot.version;
  /** What is remembered, emptied once the snapshot has moved to another version. */
  const memory = (): Map<string, string> => {
    if (rememberedAt !== snapshot.version) {
      organizationOf.clear();
      rememberedAt = snapshot.version;
    }
    return organizationOf;
  };
  const remembered = (accountId: string): string | undefined => memory().get(accountId);
  const remember = (user: UserRecord) => {
    const known = memory();
    if (known.size >= 10_000) known.clear();
    known.set(user.id, user.organization);
  };
  /** A machine's tokens (client_credentials): decided from the snapshot alone, as Gatehouse's own grant decides them (client-credentials.ts). */
  const schemaChecked = schemaCheck(snapshot, context.onClaimsDropped);
  const machines = new MachineTokens(snapshot, alg, schemaChecked);
  /** When the contracts that bound a subject's tokens end: the issuer's organization's, or at the shared issuer the user's own. Worked out once per organization. */
  const issuerEnd = machines.contractEnd;
  const ends = new Map<string, number | undefined>();
  const contractEnd = (accountId: string | undefined): number | undefined => {
    if (snapshot.organization !== undefined) return issuerEnd;
    const organization = accountId ? remembered(accountId) : undefined;
    if (!organization) return undefined;
    if (!ends.has(organization)) ends.set(organization, contractsEnd(organizationChain(snapshot.organizations, organization)));
    return ends.get(organization);
  };
  /** A subject's organization ('' for a workspace user): the issuer's own, else remembered, else read; undefined for an unknown user. */
  const subjectOrganization = async (accountId: string): Promise<string | undefined> => {
    if (snapshot.organization !== undefined) return snapshot.organization;
    const known = remembered(accountId);
    if (known !== undefined) return known;
    const user = await store.users.find(snapshot.namespace, accountId);
    if (!user) return undefined;
    remember(user);
    return user.organization;
  };
  /** Whether the organization of a token's subject still stands (the issuer's own is checked before any endpoint). */
  const subjectStands = async (accountId: string): Promise<boolean> => {
    if (snapshot.organization !== undefined) return true;
    const organization = await subjectOrganization(accountId);
    if (organization === undefined) return false;
    return !organization || standingOf(organizationChain(snapshot.organizations, organization), clock.now(), snapshot.workspace?.spec.lifecycle).active;
  };
  const findUser = async (sub: string): Promise<UserRecord | undefined> => {
    const user = await store.users.find(snapshot.namespace, sub);
    if (!user?.active) return undefined;
    remember(user);
    // An organization's issuer knows only its own users; the shared issuer knows the namespace's.
    if (snapshot.organization && user.organization !== snapshot.organization) return undefined;
    // At the shared issuer the user's own organization must still stand (its issuer refuses on its own).
    if (!snapshot.organization && user.organization && !standingOf(organizationChain(snapshot.organizations, user.organization), clock.now(), snapshot.workspace?.spec.lifecycle).active) return undefined;
    return user;
  };

  /** A session's policy: the issuer's organization's, or at the shared issuer its user's organization's (the workspace's until that is known). */
  const sessionPolicies = new Map<string, SessionPolicy>();
  const sessionsOf = (accountId: string | undefined): SessionPolicy => {
    if (snapshot.organization !== undefined) return snapshot.sessions;
    const organization = accountId ? remembered(accountId) : undefined;
    if (!organization) return snapshot.sessions;
    let policy = sessionPolicies.get(organization);
    if (!policy) {
      sessionPolicies.set(organization, (policy = resolveSessions(organizationChain(snapshot.organizations, organization), snapshot.templates, snapshot.workspace)));
    }
    return policy;
  };
  const sessionOver = (accountId: string, loginTs: number | undefined) => loginTs !== undefined && Math.floor(clock.now() / 1000) >= loginTs + sessionsOf(accountId).lifetime;

  /** The user a token request or authorization is for: the code's, the refresh token's, or the session's. */
  const accountOf = (ctx: KoaContextWithOIDC): string | undefined => {
    const e = ctx.oidc.entities as { Account?: { accountId?: string }; AuthorizationCode?: { accountId?: string }; RefreshToken?: { accountId?: string }; Session?: { accountId?: string } };
    return e.Account?.accountId ?? e.AuthorizationCode?.accountId ?? e.RefreshToken?.accountId ?? e.Session?.accountId;
  };

  const configuration: Configuration = {
    // Keyed by path, not URL, so grants survive a change of host or port.
    // The account client is always the issuer's: its models are stamped with its own id.
    adapter: storeAdapter(store, clock, snapshot.path, (clientId) => (clientId === ACCOUNT_CLIENT_ID ? ACCOUNT_CLIENT_ID : byClientId.get(clientId)?.uid)),
    routes: { ...ROUTES },
    // Every client registered here: Gatehouse's own client_credentials grant knows exactly these.
    clients: clientRegistrations(snapshot, issuer),
    jwks: { keys: ring.signers },
    cookies: {
      keys: context.cookieKeys,
      names: { session: `gh_session${tag}`, interaction: `gh_interaction${tag}`, resume: `gh_resume${tag}` },
    },
    pkce: { required: () => true },
    // Only what a declared client can use, so discovery advertises nothing a client would try
    // and be refused for: a confidential client's secret in the Authorization header or the
    // body (oidc-provider takes either for a secret), none for a public client. No JWT assertions:
    // no client registers keys, and a secret-registered client is refused client_secret_jwt.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    discovery: {
      // Public clients are refused at both (IssuerRegistry.around).
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    },
    // `none` is the account client's alone (it opens the issuer's session, nothing more); a declared client is registered for `code`.
    responseTypes: ['code', 'none'],
    scopes: OIDC_SCOPES,
    acrValues: ACR_VALUES,
    claims: {
      auth_time: null,
      sid: null,
      // acr and amr ride with `openid`, so every ID token says how the user signed in.
      openid: ['sub', 'acr', 'amr', 'organization_id', 'organization_parents', ...idClaimNames],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    clientDefaults: { id_token_signed_response_alg: alg, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code'], response_types: ['code'] },
    enabledJWA: { idTokenSigningAlgValues: [alg], userinfoSigningAlgValues: [alg], introspectionSigningAlgValues: [alg] } as Configuration['enabledJWA'],
    features: {
      devInteractions: { enabled: false },
      introspection: {
        enabled: true,
        // Only the caller's own tokens or those for an audience it serves (token-access.ts); and at
        // the shared issuer the subject's organization must still stand: its own issuer refuses on its own.
        allowedPolicy: async (_ctx, client, token) => {
          if (!mayIntrospect(snapshot, client.clientId, token)) return false;
          const { accountId } = token as { accountId?: string };
          return !accountId || (await subjectStands(accountId));
        },
      },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => {
          if (client.clientAuthMethod === 'none') return false; // answered 401 by the registry, nothing revoked
          if (!mayRevoke(client.clientId, token)) throw new errors.UnauthorizedClient(NOT_YOURS);
          return true;
        },
      },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      // On by default, but nothing else that takes our tokens checks `cnf` (docs/security.md):
      // off, a DPoP proof is ignored and every token is a Bearer token.
      dPoP: { enabled: false },
      // The keys sign themselves (signer.ts); an experiment of oidc-provider's, so the ack names its version.
      externalSigningSupport: { enabled: true, ack: 'experimental-01' },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          // Named by no client (the account page's "Sign out"): the user leaves the issuer, every
          // application's sign-in with it, once they confirm. No script submits it, so a link from
          // elsewhere signs nobody out. A client's own request signs out of that client.
          if (!ctx.oidc.client) {
            const confirm = '<input type="hidden" name="logout" value="yes"><button type="submit" id="confirm-sign-out">Sign out</button></form>';
            ctx.body = page(branding, 'Sign out', `<p>Sign out of ${escapeHtml(branding.title)} on this browser? Every application you signed in to here signs you out too.</p>${form.replace('</form>', confirm)}`);
            return;
          }
          ctx.body = page(branding, 'Sign out', `${form}<p>Signing you out…</p><script>${LOGOUT_SCRIPT}</script><noscript><button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button></noscript>`);
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.body = page(branding, 'Signed out', '<p>You have been signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, client, oneOf) => {
          if (oneOf?.length) return oneOf;
          return byClientId.get(client.clientId)?.object.spec.audiences?.[0] ?? (undefined as unknown as string);
        },
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx, resource, client) => {
          const c = byClientId.get(client.clientId);
          assertAudience(c, resource);
          // A machine's answer depends on nothing but the snapshot (machine.ts, shared with client-credentials.ts).
          if (ctx.oidc.params?.grant_type === 'client_credentials') return { ...machines.resourceServer(c, resource) };
          const accountId = accountOf(ctx);
          const organization = snapshot.organization ?? (await findUser(accountId ?? ''))?.organization;
          // At the shared issuer the subject's organization decides.
          const allowed = snapshot.organization !== undefined ? c.apiScopes : grantableApiScopes(snapshot, c, organization);
          // A scope that needs approval: a user's only while an approval stands, and no token
          // carrying it outlives the approval. Asked again at every refresh.
          const gated = approvalScopes(snapshot, organization, c);
          const approved = await withApprovals(store, snapshot.namespace, accountId, gated, allowed, clock.now());
          const info: ResourceServer = { scope: approved.scopes.join(' '), audience: resource, accessTokenTTL: cappedTo(lifetimesFor(organization).accessToken, approved.endsAt, clock.now()), accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
          return info;
        },
      },
    },
    formats: {
      customizers: {
        jwt: async (_ctx, token, jwt) => {
          const grantId = (token as { grantId?: string }).grantId ?? null;
          if (grantId) await context.onJwtIssued(snapshot.path, String(jwt.payload.jti), grantId, Number(jwt.payload.exp) * 1000);
        },
      },
    },
    async findAccount(_ctx, sub) {
      const user = await findUser(sub);
      // While authorizing, a session whose account is gone (deactivated, its organization ended)
      // would leave oidc-provider without a grant and fail with a 500: end it with an OAuth error.
      const authorizing = _ctx.oidc?.route === 'authorization' || _ctx.oidc?.route === 'resume';
      if (!user) {
        if (authorizing && _ctx.oidc.session?.accountId === sub) throw new errors.AccessDenied('this account can no longer sign in here; sign in again or ask your administrator');
        return undefined;
      }
      // At the shared issuer, the user's organization's networks and rate, as at its own issuer.
      const refused = !snapshot.organization && user.organization ? await context.admitsUser(user.organization, _ctx.req, _ctx.path) : undefined;
      if (refused) {
        if (refused.retryAfterSeconds) _ctx.set('Retry-After', String(refused.retryAfterSeconds));
        if (authorizing) throw new errors.AccessDenied(refused.detail);
        throw Object.assign(new errors.CustomOIDCProviderError(refused.error, refused.detail), { status: refused.status, statusCode: refused.status });
      }
      return {
        accountId: user.id,
        async claims() {
          const client = byClientId.get(_ctx.oidc.client?.clientId ?? '');
          return {
            sub: user.id,
            email: user.email,
            email_verified: true,
            ...(user.profile.name ? { name: user.profile.name } : {}),
            ...(user.profile.givenName ? { given_name: user.profile.givenName } : {}),
            ...(user.profile.familyName ? { family_name: user.profile.familyName } : {}),
            // A value the Workspace's claimSchema does not admit is left out of the ID token and userinfo.
            ...(await schemaChecked(tokenClaims(userChain(user), subjectClaims(snapshot, client, user.organization).id, user), client?.clientId ?? '', user, 'id')),
          };
        },
      };
    },
    async extraTokenClaims(ctx, token) {
      const client = byClientId.get(token.clientId ?? '');
      const accountId = (token as { accountId?: string }).accountId;
      const user = accountId ? await findUser(accountId) : undefined;
      // How the user signed in (password, partner IdP, second factor) travels into access tokens too.
      const source = (ctx?.oidc.entities.AuthorizationCode ?? ctx?.oidc.entities.RefreshToken) as { acr?: string; amr?: string[] } | undefined;
      // A token issued by exchange says who acts (RFC 8693 act) and how the subject signed in.
      const exchanged = exchangeClaimsOf(token);
      if (!user && !source && !exchanged && client) {
        // A machine's claims come from the snapshot alone: worked out once per client (machine.ts).
        return { ...(await machines.claims(client)) };
      }
      return { ...(await schemaChecked(tokenClaims(userChain(user), subjectClaims(snapshot, client, user?.organization).access, user), client?.clientId ?? '', user)), ...(source?.acr ? { acr: source.acr } : {}), ...(source?.amr ? { amr: source.amr } : {}), ...exchanged };
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId ?? (oidc.client ? oidc.session?.grantIdFor(oidc.client.clientId) : undefined);
      // A session can outlive its grant (the client deleted and declared again, a refresh token
      // reused): a grant not found is made anew below, or the consent prompt would loop.
      const found = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (found) return found;
      if (!oidc.client || !oidc.session?.accountId) return undefined;
      if (oidc.client.clientId === ACCOUNT_CLIENT_ID) {
        // The account pages' client gets nothing but the session: `openid`, no claims, no API.
        const grant = new oidc.provider.Grant({ clientId: ACCOUNT_CLIENT_ID, accountId: oidc.session.accountId });
        grant.addOIDCScope('openid');
        await grant.save();
        return grant;
      }
      // Every client is declared by the platform team, so its users are not asked to consent.
      const c = byClientId.get(oidc.client.clientId);
      if (!c) return undefined;
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope((c.object.spec.scopes ?? []).filter((s) => OIDC_SCOPES.includes(s)).join(' '));
      const user = snapshot.organization !== undefined ? undefined : await findUser(oidc.session.accountId);
      grant.addOIDCClaims(['organization_id', 'organization_parents', ...subjectClaims(snapshot, c, user?.organization ?? snapshot.organization).id.map((claim) => claim.name)]);
      const apiScopes = grantableApiScopes(snapshot, c, user?.organization);
      for (const audience of c.object.spec.audiences ?? []) grant.addResourceScope(audience, apiScopes.join(' '));
      await grant.save();
      return grant;
    },
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: true,
    // No token's exp is past the end of the contract of its subject's organization (or its
    // parents'); a contract already over is refused before any of these is asked.
    ttl: {
      AccessToken: (_ctx, token) => cappedTo(token.resourceServer?.accessTokenTTL ?? snapshot.lifetimes.accessToken, contractEnd(token.accountId), clock.now()),
      ClientCredentials: (_ctx, token) => machines.ttl(token.resourceServer?.accessTokenTTL, clock.now()),
      IdToken: (_ctx, token) => {
        const sub = (token as { available?: { sub?: string } }).available?.sub;
        return cappedTo(lifetimesFor(sub ? remembered(sub) : undefined).idToken, contractEnd(sub), clock.now());
      },
      RefreshToken: (_ctx, token) => cappedTo(lifetimesFor(token.accountId ? remembered(token.accountId) : undefined).refreshToken, contractEnd(token.accountId), clock.now()),
      // At the shared issuer, the longest of any organization's; at an organization's, its own (not a walk over the namespace).
      Grant: Math.max(snapshot.lifetimes.refreshToken, ...(snapshot.organization === undefined ? [...snapshot.organizations.keys()].map((o) => lifetimesFor(o).refreshToken) : []), 3600),
      // Saved again on every use: kept while used within the idle timeout, up to the lifetime since sign-in.
      Session: (_ctx, session) => sessionTtl(sessionsOf(session.accountId), session.loginTs, clock.now()),
      Interaction: 600,
      AuthorizationCode: 60,
    },
    interactions: { url: (_ctx, interaction) => `${snapshot.path}/interaction/${interaction.uid}`, policy: interactionPolicyFor(snapshot, findUser, { store, clock }, sessionOver) },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(branding, out);
    },
  };
  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  // A JWT's client must still be this issuer's, at the shared issuer a user's organization still
  // stand, and every scope it carries that needs approval still be approved (denied, revoked or
  // expired: the token is inactive from that instant, as are exchanges of it).
  holders.set(provider, async (claims) => {
    const clientId = claims.client_id;
    if (typeof clientId !== 'string' || !byClientId.has(clientId)) return false;
    if (typeof claims.sub !== 'string' || claims.sub === clientId) return true;
    if (!(await subjectStands(claims.sub))) return false;
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    const gated = approvalScopes(snapshot, (await subjectOrganization(claims.sub)) || undefined, byClientId.get(clientId));
    return (await withApprovals(store, snapshot.namespace, claims.sub, gated, scopes, clock.now())).scopes.length === scopes.length;
  });
  registerTokenExchange(provider, { snapshot, alg, findUser, now: () => clock.now(), verify: { store, clock, ring, issuer, path: snapshot.path, provider } });
  return provider;
}
