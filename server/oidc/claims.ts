import type { Claim, OrganizationObject } from '../../api/index.ts';
import type { UserRecord } from '../store/index.ts';

export type ClaimValue = string | number | boolean | string[];

/** The value a mapping's `from` names, or undefined when the source has none. */
function sourceValue(from: string, chain: OrganizationObject[], user: UserRecord | undefined): ClaimValue | undefined {
  const [source, ...rest] = from.split('.');
  const field = rest.join('.');
  const org = chain[0];
  if (source === 'organization') {
    if (!org) return undefined;
    if (field === 'id') return org.metadata.name;
    if (field === 'displayName') return org.spec.displayName;
    if (field === 'parents') return chain.slice(1).map((o) => o.metadata.name);
  }
  if (source === 'contract') {
    const contract = org?.spec.contract;
    if (!contract) return undefined;
    return (contract as Record<string, string | undefined>)[field];
  }
  if (source === 'user' && user) {
    const known: Record<string, ClaimValue | undefined> = {
      email: user.email,
      name: user.profile.name,
      givenName: user.profile.givenName,
      familyName: user.profile.familyName,
      roles: user.roles,
      id: user.id,
      // SCIM group memberships; a user no SCIM connection manages keeps any declared `groups` attribute.
      ...(user.profile.groups ? { groups: user.profile.groups } : {}),
    };
    return field in known ? known[field] : user.profile.attributes?.[field];
  }
  if (source === 'upstream' && user) {
    const value = user.profile.upstream?.[field];
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  }
  return undefined;
}

/**
 * The claims an organization's token carries: `organization_id` always, the parent chain
 * for sub-organizations, then the declared mappings. Reserved names are refused by the
 * schema, so a mapping can never overwrite who the token is about.
 */
export function tokenClaims(chain: OrganizationObject[], mappings: Claim[], user: UserRecord | undefined): Record<string, ClaimValue> {
  const out: Record<string, ClaimValue> = {};
  for (const claim of mappings) {
    const value = claim.value ?? (claim.from ? sourceValue(claim.from, chain, user) : undefined);
    if (value !== undefined) out[claim.name] = value;
  }
  const org = chain[0];
  if (org) {
    out.organization_id = org.metadata.name;
    if (chain.length > 1) out.organization_parents = chain.slice(1).map((o) => o.metadata.name);
  }
  return out;
}
