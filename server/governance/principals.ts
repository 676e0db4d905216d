import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { withDescendants, dnsLabel, issuerPath, type ClientObject } from '../../api/index.ts';
import type { AdminTokenVerifier } from './admin-tokens.ts';
import { isUnsignedJwt, refusedReason, type RefusedReason } from '../audit/refusals.ts';
import type { Clock } from '../clock.ts';
import type { SigningKeys } from '../oidc/keys.ts';
import { standingOf } from '../oidc/standing.ts';
import { isMfa } from '../oidc/acr.ts';
import type { Store } from '../store/index.ts';
import { chainFor, loadNamespace } from './organizations.ts';
import type { Principal, Role } from './policy.ts';

/**
 * The annotation that makes a Client an admin console. Only access tokens issued to such
 * a client are admin tokens: an ordinary application's token, even a partner admin's,
 * never opens the admin API. The annotation is declared by the platform team in git or
 * Pulumi, and partner admins cannot change declared objects.
 */
export const ADMIN_CONSOLE_ANNOTATION = 'gatehouse.dev/admin-console';

export type Resolution =
  | { principal: Principal }
  /** `reason`: why the token was refused, for the audit log (never the token). */
  | { status: 401; detail: string; reason: RefusedReason }
  | { status: 403; detail: string; actor: string; namespace: string; organization: string | null };

const ROLES = new Set<string>(['organization-admin', 'admin', 'auditor', 'user-manager']);
const isJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

interface Verified {
  issuer: string;
  namespace: string;
  organization: string | undefined;
  subject: string | undefined;
  clientId: string;
  /** The sign-in behind the token passed a second factor (acr/amr, as the step-up writes them). */
  mfa: boolean;
}

/** Whether a token's acr/amr claims say its sign-in passed a second factor. */
export function signedInWithMfa(claims: { acr?: unknown; amr?: unknown } | undefined): boolean {
  if (!claims) return false;
  return isMfa(claims.acr, claims.amr);
}

/**
 * Finds who a bearer token on the admin API is: an admin token (a workspace administrator),
 * or an access token of one of Gatehouse's own issuers held by a directory user with a
 * role, issued to an admin-console client, whose organization still stands.
 */
export class PrincipalResolver {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly keys: SigningKeys;
  private readonly verifier: AdminTokenVerifier;
  private readonly publicUrl: () => string;

  constructor(options: { store: Store; clock: Clock; keys: SigningKeys; verifier: AdminTokenVerifier; publicUrl: () => string }) {
    this.store = options.store;
    this.clock = options.clock;
    this.keys = options.keys;
    this.verifier = options.verifier;
    this.publicUrl = options.publicUrl;
  }

  async resolve(token: string): Promise<Resolution> {
    const name = await this.verifier.identify(token);
    if (name) return { principal: { kind: 'token', actor: `admin-token:${name}` } };
    const verified = isUnsignedJwt(token) ? 'alg-not-allowed' : isJwt(token) ? await this.verifyJwt(token) : await this.verifyOpaque(token);
    if (typeof verified === 'string') return { status: 401, detail: "the admin token is not valid (nor is it a live access token of one of this server's issuers)", reason: verified };
    const { namespace } = verified;
    if (!verified.subject) return { status: 401, detail: 'a client-credentials token names no user; sign in as a partner administrator', reason: 'no-user' };
    const actor = `user:${namespace}/${verified.organization ? `${verified.organization}/` : ''}${verified.subject}`;
    const denied = (detail: string, organization: string | null = verified.organization ?? null): Resolution => ({ status: 403, detail, actor, namespace, organization });

    const clientName = verified.clientId.endsWith(`.${namespace}`) ? verified.clientId.slice(0, -namespace.length - 1) : undefined;
    const client = clientName ? await this.store.objects.get('Client', namespace, clientName) : undefined;
    if (!client || (client.object as ClientObject).metadata.annotations?.[ADMIN_CONSOLE_ANNOTATION] !== 'true') {
      return denied(`tokens of client ${verified.clientId} are not admin tokens; sign in through a client annotated ${ADMIN_CONSOLE_ANNOTATION}: "true"`);
    }
    const user = await this.store.users.find(namespace, verified.subject);
    if (!user?.active) return denied(`user ${verified.subject} is unknown or deactivated`);
    if (verified.organization && user.organization !== verified.organization) return denied(`user ${verified.subject} does not belong to organization ${verified.organization}`);
    const roles = user.roles.filter((r): r is Role => ROLES.has(r));
    if (roles.length === 0) return denied(`user ${verified.subject} has no administrator role`, user.organization || null);

    const organization = user.organization || null;
    let scope: Extract<Principal, { kind: 'user' }>['scope'] = 'namespace';
    const view = await loadNamespace(this.store, namespace);
    if (view.workspace?.spec.guardrails?.requireMfaForAdmins && !verified.mfa) {
      return denied(`workspace ${namespace} requires administrators to sign in with a second factor (Workspace spec.guardrails.requireMfaForAdmins), and this token's sign-in had none; sign in to the admin console again, which now asks for two-step verification`, organization);
    }
    if (organization) {
      const standing = standingOf(chainFor(view, organization), this.clock.now(), view.workspace?.spec.lifecycle);
      if (!standing.active) return denied(`organization ${organization} no longer stands: ${standing.detail}`, organization);
      scope = new Set(withDescendants(view.organizations, organization));
    }
    return {
      principal: { kind: 'user', actor: `user:${namespace}/${organization ? `${organization}/` : ''}${user.id}`, namespace, userId: user.id, organization, scope, roles },
    };
  }

  /** The store keys an issuer's grants and tokens by its path (`/{namespace}[/{organization}]`). */
  private issuerParts(path: string): { namespace: string; organization: string | undefined } | undefined {
    if (!path.startsWith('/')) return undefined;
    const [namespace, organization, ...more] = path.slice(1).split('/');
    if (more.length > 0 || !namespace || !dnsLabel.safeParse(namespace).success) return undefined;
    if (organization !== undefined && !dnsLabel.safeParse(organization).success) return undefined;
    return { namespace, organization };
  }

  /**
   * The path of one of this server's issuers, from the `iss` a token names: under PUBLIC_URL,
   * or the origin of a vanity domain an Organization declares (its grants and tokens are keyed
   * under that organization's path). The signature is checked by the caller.
   */
  private async pathOf(iss: string): Promise<string | undefined> {
    const base = this.publicUrl().replace(/\/+$/, '');
    if (iss.startsWith(`${base}/`)) return iss.slice(base.length);
    let url: URL;
    try {
      url = new URL(iss);
    } catch {
      return undefined;
    }
    const canonical = new URL(base);
    if (url.protocol !== canonical.protocol || url.origin !== iss || (url.port && url.port !== canonical.port)) return undefined;
    const host = url.hostname.toLowerCase();
    const declaring = (await this.store.objects.list({ kind: 'Organization' })).filter(({ object }) => ((object.spec as { domains?: string[] }).domains ?? []).some((d) => d.toLowerCase() === host));
    // A domain declared twice is served by neither's tokens here: which organization it names is ambiguous.
    if (declaring.length !== 1) return undefined;
    const { metadata } = declaring[0]!.object;
    return issuerPath(metadata.namespace!, metadata.name);
  }

  private async grantLives(issuer: string, grantId: unknown): Promise<boolean> {
    if (typeof grantId !== 'string') return true;
    return (await this.store.oidc.find(issuer, 'Grant', 'id', grantId, this.clock.now())) !== undefined;
  }

  private async verifyJwt(token: string): Promise<Verified | RefusedReason> {
    try {
      const iss = decodeJwt(token).iss;
      const path = typeof iss === 'string' ? await this.pathOf(iss) : undefined;
      const parts = path ? this.issuerParts(path) : undefined;
      if (!iss || !path || !parts) return 'unknown-issuer';
      const keys = await this.keys.publicJwks(parts.namespace);
      const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: keys as never }), { issuer: iss, typ: 'at+jwt', currentDate: new Date(this.clock.now()) });
      if (typeof payload.jti !== 'string' || typeof payload.client_id !== 'string' || typeof payload.iat !== 'number') return 'invalid-claims';
      // The issuer's cutoff, and its client's (a deleted Client: tokens from before it are not brought back by one re-created).
      if (payload.iat * 1000 < (await this.store.oidc.tokenCutoff(path, payload.client_id))) return 'revoked';
      const record = await this.store.accessTokens.find(path, payload.jti);
      if (record?.revokedAt) return 'revoked';
      if (record?.grantId && !(await this.grantLives(path, record.grantId))) return 'revoked';
      return { issuer: path, ...parts, subject: typeof payload.sub === 'string' && payload.sub !== payload.client_id ? payload.sub : undefined, clientId: payload.client_id, mfa: signedInWithMfa({ acr: payload.acr, amr: payload.amr }) };
    } catch (error) {
      return refusedReason(error);
    }
  }

  private async verifyOpaque(token: string): Promise<Verified | RefusedReason> {
    if (!/^[\w-]{20,128}$/.test(token)) return 'malformed';
    const found = await this.store.oidc.findAnywhere('AccessToken', token, this.clock.now());
    if (!found) return 'unknown';
    const parts = this.issuerParts(found.issuer);
    if (!parts) return 'unknown';
    const payload = JSON.parse(found.payload) as { accountId?: unknown; clientId?: unknown; grantId?: unknown; exp?: unknown; extra?: { acr?: unknown; amr?: unknown } };
    if (typeof payload.clientId !== 'string') return 'invalid-claims';
    if (typeof payload.exp === 'number' && payload.exp * 1000 <= this.clock.now()) return 'expired';
    if (!(await this.grantLives(found.issuer, payload.grantId))) return 'revoked';
    // An opaque token keeps the claims extraTokenClaims added (acr, amr) under `extra`.
    return { issuer: found.issuer, ...parts, subject: typeof payload.accountId === 'string' ? payload.accountId : undefined, clientId: payload.clientId, mfa: signedInWithMfa(payload.extra) };
  }
}
