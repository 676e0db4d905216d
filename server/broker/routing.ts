import type { IdPConnectionObject, OrganizationObject } from '../../api/index.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';
import { emailDomain, ownedDomains, ownerOf } from '../governance/domains.ts';

/** Where an email address signs in: a declared connection, or the organization's directory when it declares none. */
export interface Route {
  organization: OrganizationObject;
  /** Undefined: the organization's own directory (declared users with a password). */
  connection: IdPConnectionObject | undefined;
  type: 'oidc' | 'saml' | 'directory';
}

export { emailDomain } from '../governance/domains.ts';

/**
 * The organization's own email domains, or its template's when it declares none. At the
 * shared issuer (no template of its own) the organization's template is looked up by name.
 */
export function organizationDomains(snapshot: IssuerSnapshot, org: OrganizationObject): string[] {
  return ownedDomains(org, snapshot.templates);
}

/**
 * Home-realm discovery. Domains match exactly — `eu.forge.example` is not `forge.example` —
 * so a partner never receives the sign-ins of a subdomain it did not declare. A domain routes
 * only to the one organization that owns it (server/governance/domains.ts): a connection
 * listing a domain its organization does not own (refused on write, but a store may predate
 * the check) routes nothing for it. Among an owner's connections claiming the domain (those
 * listing it, else those listing none), the lowest priority number wins, then the name. An
 * organization's issuer routes only to its own connections; the shared issuer across all.
 */
export function routeEmail(snapshot: IssuerSnapshot, email: string): Route | undefined {
  const domain = emailDomain(email);
  if (!domain) return undefined;
  const organization = ownerOf(snapshot.organizations, snapshot.templates, domain);
  if (!organization) return undefined;
  if (snapshot.organization !== undefined && organization.metadata.name !== snapshot.organization) return undefined;
  const candidates = snapshot.connections
    .filter((c) => c.spec.organizationRef.name === organization.metadata.name)
    .filter((c) => !c.spec.emailDomains || c.spec.emailDomains.some((d) => d.toLowerCase() === domain))
    .sort((a, b) => a.spec.priority - b.spec.priority || a.metadata.name.localeCompare(b.metadata.name));
  const chosen = candidates[0];
  // An organization without any connection for the domain keeps its directory (declared users).
  return chosen ? { organization, connection: chosen, type: chosen.spec.type } : { organization, connection: undefined, type: 'directory' };
}
