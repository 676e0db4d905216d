import { createHash } from 'node:crypto';
import type { IdPConnectionObject, OrganizationObject } from '../../api/index.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';
import type { Repositories, UserRecord } from '../store/index.ts';
import { emailDomain, organizationDomains } from './routing.ts';

/** What an upstream IdP vouched for, after its signature and every condition were checked. */
export interface UpstreamIdentity {
  subject: string;
  /** Claims (OIDC) or attributes (SAML) as the IdP sent them. */
  claims: Record<string, unknown>;
}

export type Provisioned = { ok: true; user: UserRecord; created: boolean } | { ok: false; reason: string; message: string; email?: string };

const DEFAULT_MAPPING: Record<string, string> = { email: 'email', name: 'name', given_name: 'given_name', family_name: 'family_name' };

const scalar = (v: unknown): unknown => (Array.isArray(v) && v.length === 1 ? v[0] : v);

/** Token claim ← upstream claim, per the connection's `attributeMapping` (email and name by their OIDC names when unmapped). */
export function mapAttributes(connection: IdPConnectionObject, claims: Record<string, unknown>): Record<string, unknown> {
  const mapping = { ...DEFAULT_MAPPING, ...(connection.spec.attributeMapping ?? {}) };
  const out: Record<string, unknown> = {};
  for (const [to, from] of Object.entries(mapping)) {
    const value = scalar(claims[from]);
    if (value !== undefined && value !== null && value !== '') out[to] = value;
  }
  return out;
}

/** Stable across sign-ins and replicas, and never derived from the (changeable) email. */
export function federatedUserId(namespace: string, connection: string, subject: string): string {
  return `fed-${createHash('sha256').update(`${namespace}\0${connection}\0${subject}`).digest('hex').slice(0, 24)}`;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

const ATEXT = "[a-z0-9!#$%&'*+/=?^_`{|}~-]+";
/** RFC 5322 dot-atom local part, and a DNS host name of LDH labels (IDNs in their xn-- form). */
const ROUTABLE_EMAIL = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`);

/**
 * The upstream's email when it is a plain address, lower-cased; undefined otherwise. RFC 5322
 * also allows quoted local parts (`"boss@cascade.example"@forge.example`), comments, folding
 * whitespace and address literals: each reads differently to a domain check, a mail server
 * and an application keying users by email, so none is ever passed on — whoever the IdP is.
 */
export function routableEmail(value: string): string | undefined {
  const email = value.toLowerCase();
  if (email.length > 254 || email.indexOf('@') > 64) return undefined;
  return ROUTABLE_EMAIL.test(email) ? email : undefined;
}

/**
 * Just-in-time provisioning: the user is found by connection + upstream subject, never by
 * email. The asserted email must be in the organization's own domains, whatever the IdP
 * says, so one partner's IdP can never sign in as another partner's user.
 */
export async function provisionUser(repo: Repositories, snapshot: IssuerSnapshot, connection: IdPConnectionObject, organization: OrganizationObject, identity: UpstreamIdentity, now: number): Promise<Provisioned> {
  const mapped = mapAttributes(connection, identity.claims);
  const sent = str(mapped.email);
  if (!sent) return { ok: false, reason: 'no-email', message: 'Your identity provider did not send an email address.' };
  const email = routableEmail(sent);
  if (!email) return { ok: false, reason: 'invalid-email', message: 'Your identity provider sent an email address that is not a plain address (name@domain), which is never accepted.' };
  const domain = emailDomain(email);
  const allowed = organizationDomains(snapshot, organization);
  if (!domain || !allowed.includes(domain)) {
    return { ok: false, reason: 'email-domain-not-allowed', email, message: `${organization.spec.displayName}'s identity provider may not sign in ${email}: the address is not in the organization's email domains.` };
  }
  const namespace = snapshot.namespace;
  const existing = await repo.users.findBySubject(namespace, connection.metadata.name, identity.subject);
  if (existing && !existing.active) return { ok: false, reason: 'deactivated', email, message: 'This account is deactivated.' };
  if (existing && existing.organization !== organization.metadata.name) return { ok: false, reason: 'organization-mismatch', email, message: 'This account belongs to another organization.' };
  const jit = connection.spec.jit;
  if (!existing && jit && !jit.enabled) return { ok: false, reason: 'not-provisioned', email, message: `There is no account for ${email} yet, and ${organization.spec.displayName} does not create accounts on first sign-in. Ask your administrator.` };
  const profile = {
    ...(existing?.profile ?? {}),
    ...(str(mapped.name) ? { name: str(mapped.name)! } : {}),
    ...(str(mapped.given_name) ? { givenName: str(mapped.given_name)! } : {}),
    ...(str(mapped.family_name) ? { familyName: str(mapped.family_name)! } : {}),
    upstream: mapped,
  };
  const user: UserRecord = {
    namespace,
    id: existing?.id ?? federatedUserId(namespace, connection.metadata.name, identity.subject),
    organization: organization.metadata.name,
    connection: connection.metadata.name,
    subject: identity.subject,
    email,
    declaredAs: existing?.declaredAs ?? null,
    profile,
    roles: [...new Set([...(existing?.roles ?? []), ...(jit?.defaultRoles ?? [])])],
    active: true,
    passwordHash: null,
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
    lastLoginAt: now,
  };
  await repo.users.upsert(user);
  await repo.users.touchLogin(namespace, user.id, now);
  return { ok: true, user, created: !existing };
}
