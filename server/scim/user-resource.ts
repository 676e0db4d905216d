import { routableEmail } from '../broker/provision.ts';
import { emailDomain, organizationDomains } from '../broker/routing.ts';
import type { ScimUserRecord, UserProfile, UserRecord } from '../store/index.ts';
import type { Caller } from './caller.ts';
import { ScimError } from './errors.ts';
import { ENTERPRISE_SCHEMA, STORED_USER_ATTRIBUTES, USER_SCHEMA, type UserInput } from './resources.ts';

type Json = Record<string, unknown>;

/** The SCIM User resource of an account this connection provisioned, with its groups. */
export function userResource(caller: Caller, { user, scim }: { user: UserRecord; scim: ScimUserRecord }, groups: readonly { id: string; displayName: string }[]): Json {
  const attributes = scim.resource;
  return {
    schemas: [USER_SCHEMA, ...(attributes[ENTERPRISE_SCHEMA] ? [ENTERPRISE_SCHEMA] : [])],
    id: user.id,
    ...(scim.externalId ? { externalId: scim.externalId } : {}),
    userName: scim.userName,
    ...attributes,
    active: user.active,
    groups: groups.map((g) => ({ value: g.id, display: g.displayName, $ref: `${caller.base}/Groups/${g.id}` })),
    meta: { resourceType: 'User', created: new Date(scim.createdAt).toISOString(), lastModified: new Date(Math.max(scim.updatedAt, user.updatedAt)).toISOString(), location: `${caller.base}/Users/${user.id}` },
  };
}

/**
 * Checks a user resource against the organization's guardrails: userName and every email an
 * plain address in one of the organization's email domains (422 naming the attribute).
 */
export function admit(caller: Caller, input: UserInput): { userName: string; email: string } {
  const allowed = organizationDomains(caller.snapshot, caller.organization);
  const check = (attribute: string, value: string): string => {
    const email = routableEmail(value);
    if (!email) throw new ScimError(422, 'invalidValue', `${attribute}: "${value}" is not a plain email address (name@domain)`);
    const domain = emailDomain(email);
    if (!domain || !allowed.includes(domain)) throw new ScimError(422, 'invalidValue', `${attribute}: ${email} is not in ${caller.organization.spec.displayName}'s email domains (${allowed.join(', ') || 'none declared'})`);
    return email;
  };
  const userName = check('userName', input.userName);
  const emails = (input.emails ?? []).map((e, i) => check(`emails[${i}].value`, e.value));
  const primary = (input.emails ?? []).findIndex((e) => e.primary === true);
  return { userName, email: emails[Math.max(primary, 0)] ?? userName };
}

export function storedAttributes(input: UserInput): Json {
  const out: Json = {};
  for (const key of STORED_USER_ATTRIBUTES) if (input[key] !== undefined && input[key] !== null) out[key] = input[key];
  return out;
}

/** What tokens and ClaimMappings read of the user (`from: user.<attribute>`: department, employeeNumber, manager, …). */
export function profileOf(input: UserInput, existing: UserProfile | undefined): UserProfile {
  const enterprise = input[ENTERPRISE_SCHEMA];
  const attributes: Record<string, string> = {};
  for (const key of ['employeeNumber', 'costCenter', 'organization', 'division', 'department'] as const) {
    const v = enterprise?.[key];
    if (typeof v === 'string' && v) attributes[key] = v;
  }
  const manager = enterprise?.manager;
  const managerId = typeof manager === 'string' ? manager : manager?.value;
  if (managerId) attributes.manager = managerId;
  if (input.title) attributes.title = input.title;
  const name = input.name?.formatted ?? input.displayName ?? ([input.name?.givenName, input.name?.familyName].filter(Boolean).join(' ') || undefined);
  const { name: _n, givenName: _g, familyName: _f, attributes: _a, ...kept } = existing ?? {};
  return {
    ...kept,
    ...(name ? { name } : {}),
    ...(input.name?.givenName ? { givenName: input.name.givenName } : {}),
    ...(input.name?.familyName ? { familyName: input.name.familyName } : {}),
    ...(Object.keys(attributes).length ? { attributes } : {}),
  };
}
