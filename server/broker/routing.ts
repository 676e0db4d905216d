import type { IdPConnectionObject, OrganizationObject } from '../../api/index.ts';
import type { IssuerSnapshot } from '../oidc/snapshot.ts';

/** Where an email address signs in: a declared connection, or the organization's directory when it declares none. */
export interface Route {
  organization: OrganizationObject;
  /** Undefined: the organization's own directory (declared users with a password). */
  connection: IdPConnectionObject | undefined;
  type: 'oidc' | 'saml' | 'directory';
}

export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  return email.slice(at + 1).toLowerCase();
}

/** The organization's own email domains, or its template's when it declares none. */
export function organizationDomains(snapshot: IssuerSnapshot, org: OrganizationObject): string[] {
  if (org.spec.emailDomains) return org.spec.emailDomains.map((d) => d.toLowerCase());
  const templateName = org.spec.templateRef?.name;
  const template = templateName && snapshot.template?.metadata.name === templateName ? snapshot.template : undefined;
  return (template?.spec.emailDomains ?? []).map((d) => d.toLowerCase());
}

/**
 * Home-realm discovery. Domains match exactly — `eu.forge.example` is not `forge.example` —
 * so a partner never receives the sign-ins of a subdomain it did not declare. A connection
 * claims the domains it lists, else its organization's; among several, the lowest priority
 * number wins, then the name. An organization's issuer routes only to its own connections;
 * the namespace's shared issuer routes across all of them.
 */
export function routeEmail(snapshot: IssuerSnapshot, email: string): Route | undefined {
  const domain = emailDomain(email);
  if (!domain) return undefined;
  const inScope = (orgName: string) => (snapshot.organization ? orgName === snapshot.organization : snapshot.organizations.has(orgName));
  const candidates = snapshot.connections
    .filter((c) => inScope(c.spec.organizationRef.name))
    .filter((c) => {
      const org = snapshot.organizations.get(c.spec.organizationRef.name);
      const domains = c.spec.emailDomains?.map((d) => d.toLowerCase()) ?? (org ? organizationDomains(snapshot, org) : []);
      return domains.includes(domain);
    })
    .sort((a, b) => a.spec.priority - b.spec.priority || a.metadata.name.localeCompare(b.metadata.name));
  const chosen = candidates[0];
  if (chosen) {
    const organization = snapshot.organizations.get(chosen.spec.organizationRef.name)!;
    return { organization, connection: chosen, type: chosen.spec.type };
  }
  // An organization without any connection for the domain keeps its directory (declared users).
  const orgs = [...snapshot.organizations.values()].filter((o) => inScope(o.metadata.name) && organizationDomains(snapshot, o).includes(domain));
  const org = orgs.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0];
  return org ? { organization: org, connection: undefined, type: 'directory' } : undefined;
}
