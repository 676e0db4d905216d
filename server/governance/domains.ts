import { domainToASCII } from 'node:url';
import { declaredEmailDomains, organizationChain, type OrganizationObject, type OrganizationTemplateObject } from '../../api/index.ts';

/**
 * Email-domain ownership inside one namespace (docs/security.md, "Tenant isolation").
 *
 * - An organization owns the domains it declares in `spec.emailDomains`, or, when it
 *   declares none, those of its template. Parents pass nothing down: a sub-organization
 *   owns only what it (or its template) declares.
 * - Matching is exact on the lowercase ASCII (A-label) form: `eu.acme.com` is not
 *   `acme.com`, `evilacme.com` is not `acme.com`, `acme.com.` is no domain at all.
 * - No two organizations own overlapping domains: the same domain, or one a subdomain of
 *   the other (keycloak#40026), so nobody can claim the subdomains of a partner's domain.
 *   The one exception is a family: a sub-organization may own a subdomain of an
 *   ancestor's domain (`east.cascade.example` below `cascade.example`), never the same one.
 */

export interface DomainClaim {
  organization: string;
  domain: string;
  /** The index in the declaring list (the organization's, or its template's). */
  index: number;
  /** Set when the domain comes from the organization's template. */
  template: string | undefined;
}

/** The domain of an address as ownership compares it, or undefined when it has none a partner could own. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at < 1 || at === email.length - 1) return undefined;
  const raw = email.slice(at + 1);
  if (raw.endsWith('.')) return undefined; // an absolute name is never matched against a declared one
  const ascii = domainToASCII(raw.toLowerCase());
  return ascii === '' ? undefined : ascii;
}

/** What an organization owns: its own domains, else its template's. */
export function claimsOf(org: OrganizationObject, templates: ReadonlyMap<string, OrganizationTemplateObject>): DomainClaim[] {
  const organization = org.metadata.name;
  const declared = declaredEmailDomains(org, templates);
  const template = declared?.source.startsWith('template:') ? declared.source.slice('template:'.length) : undefined;
  return (declared?.value ?? []).map((d, index) => ({ organization, domain: d.toLowerCase(), index, template }));
}

export function ownedDomains(org: OrganizationObject, templates: ReadonlyMap<string, OrganizationTemplateObject>): string[] {
  return claimsOf(org, templates).map((c) => c.domain);
}

const isSubdomain = (sub: string, of: string) => sub.endsWith(`.${of}`);

function ancestors(orgs: ReadonlyMap<string, OrganizationObject>, name: string): Set<string> {
  return new Set(
    organizationChain(orgs, name)
      .slice(1)
      .map((o) => o.metadata.name),
  );
}

export interface DomainConflict {
  claim: DomainClaim;
  /** The organization whose claim it collides with, and the domain it owns. */
  owner: string;
  ownerDomain: string;
}

/**
 * The claims of `affected` organizations that collide with another organization's. Only the
 * affected ones are reported, so a write is refused for what it changes, not for an older
 * collision elsewhere in the namespace.
 */
export function domainConflicts(orgs: ReadonlyMap<string, OrganizationObject>, templates: ReadonlyMap<string, OrganizationTemplateObject>, affected: Iterable<string>): DomainConflict[] {
  const all = [...orgs.values()].flatMap((o) => claimsOf(o, templates));
  const out: DomainConflict[] = [];
  for (const name of affected) {
    const mine = all.filter((c) => c.organization === name);
    const above = ancestors(orgs, name);
    for (const claim of mine) {
      for (const other of all) {
        if (other.organization === name) continue;
        const same = other.domain === claim.domain;
        // A sub-organization below `other` may own a subdomain of its domain (and `other` one above it).
        const family = (isSubdomain(claim.domain, other.domain) && above.has(other.organization)) || (isSubdomain(other.domain, claim.domain) && ancestors(orgs, other.organization).has(name));
        if (same || ((isSubdomain(claim.domain, other.domain) || isSubdomain(other.domain, claim.domain)) && !family)) {
          out.push({ claim, owner: other.organization, ownerDomain: other.domain });
          break;
        }
      }
    }
  }
  return out;
}

export function describeConflict(namespace: string, c: DomainConflict): string {
  const how = c.ownerDomain === c.claim.domain ? `"${c.claim.domain}" is owned by` : isSubdomain(c.claim.domain, c.ownerDomain) ? `"${c.claim.domain}" is a subdomain of "${c.ownerDomain}", owned by` : `"${c.claim.domain}" is a parent domain of "${c.ownerDomain}", owned by`;
  const inherited = c.claim.template ? ` (organization ${c.claim.organization} inherits it from OrganizationTemplate ${c.claim.template})` : '';
  return `${how} Organization ${namespace}/${c.owner}${inherited}; an email domain belongs to exactly one organization`;
}

/**
 * The one organization owning `domain` exactly, or undefined when none does or (in a store
 * written before ownership was checked) several do: an ambiguous domain routes nowhere.
 */
export function ownerOf(orgs: ReadonlyMap<string, OrganizationObject>, templates: ReadonlyMap<string, OrganizationTemplateObject>, domain: string): OrganizationObject | undefined {
  const owners = [...orgs.values()].filter((o) => ownedDomains(o, templates).includes(domain));
  return owners.length === 1 ? owners[0] : undefined;
}
