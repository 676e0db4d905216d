import { organizationChain, type AnyObject, type KindName, type OrganizationObject, type OrganizationTemplateObject } from '../../api/index.ts';
import type { Follower } from '../objects/snapshot.ts';
import { claimsOf, type DomainClaim, type DomainConflict } from './domains.ts';

const isSubdomain = (sub: string, of: string) => sub.endsWith(`.${of}`);

/** `a.b.example` → `b.example`, `example`: the domains `domain` is a subdomain of. */
function parents(domain: string): string[] {
  const out: string[] = [];
  for (let dot = domain.indexOf('.'); dot !== -1; dot = domain.indexOf('.', dot + 1)) out.push(domain.slice(dot + 1));
  return out;
}

function add(index: Map<string, Set<string>>, key: string, name: string): void {
  const set = index.get(key) ?? new Set<string>();
  index.set(key, set);
  set.add(name);
}

function drop(index: Map<string, Set<string>>, key: string, name: string): void {
  const set = index.get(key);
  set?.delete(name);
  if (set?.size === 0) index.delete(key);
}

/**
 * The email-domain ownership of one namespace (domains.ts) held as indexes, so that judging a
 * write costs what the write touches, not the namespace: who claims a domain exactly, who
 * claims a domain below it, who uses a template, who sits below an organization. Built once
 * from the namespace's organizations and templates, then kept current object by object.
 */
export class DomainIndex implements Follower {
  readonly organizations = new Map<string, OrganizationObject>();
  readonly templates = new Map<string, OrganizationTemplateObject>();
  private readonly claims = new Map<string, DomainClaim[]>();
  /** domain → organizations claiming it. */
  private readonly exact = new Map<string, Set<string>>();
  /** domain → organizations claiming a subdomain of it. */
  private readonly below = new Map<string, Set<string>>();
  /** template → organizations referencing it. */
  private readonly users = new Map<string, Set<string>>();
  /** organization → the organizations whose parent it is. */
  private readonly children = new Map<string, Set<string>>();

  constructor(organizations: Iterable<OrganizationObject>, templates: Iterable<OrganizationTemplateObject>) {
    for (const t of templates) this.templates.set(t.metadata.name, t);
    for (const o of organizations) this.setOrganization(o);
  }

  put(object: AnyObject): void {
    if (object.kind === 'Organization') this.setOrganization(object);
    if (object.kind === 'OrganizationTemplate') this.setTemplate(object);
  }

  delete(kind: KindName, name: string): void {
    if (kind === 'Organization') this.deleteOrganization(name);
    if (kind === 'OrganizationTemplate') this.deleteTemplate(name);
  }

  setOrganization(org: OrganizationObject): void {
    const name = org.metadata.name;
    this.deleteOrganization(name);
    this.organizations.set(name, org);
    if (org.spec.templateRef) add(this.users, org.spec.templateRef.name, name);
    if (org.spec.parentRef) add(this.children, org.spec.parentRef.name, name);
    this.index(name);
  }

  deleteOrganization(name: string): void {
    const org = this.organizations.get(name);
    if (!org) return;
    this.unindex(name);
    if (org.spec.templateRef) drop(this.users, org.spec.templateRef.name, name);
    if (org.spec.parentRef) drop(this.children, org.spec.parentRef.name, name);
    this.organizations.delete(name);
  }

  setTemplate(template: OrganizationTemplateObject): void {
    this.templates.set(template.metadata.name, template);
    this.reindexUsers(template.metadata.name);
  }

  deleteTemplate(name: string): void {
    if (this.templates.delete(name)) this.reindexUsers(name);
  }

  /** Runs `judge` against the namespace as it would be with `change` made, and leaves the index as it was. */
  trial<T>(change: OrganizationObject | OrganizationTemplateObject, judge: () => T): T {
    const name = change.metadata.name;
    if (change.kind === 'Organization') {
      const earlier = this.organizations.get(name);
      this.setOrganization(change);
      try {
        return judge();
      } finally {
        if (earlier) this.setOrganization(earlier);
        else this.deleteOrganization(name);
      }
    }
    const earlier = this.templates.get(name);
    this.setTemplate(change);
    try {
      return judge();
    } finally {
      if (earlier) this.setTemplate(earlier);
      else this.deleteTemplate(name);
    }
  }

  /** The organizations whose claims come from the template (they declare no domains of their own). */
  inheritorsOf(template: string): string[] {
    return [...(this.users.get(template) ?? [])].filter((name) => !this.organizations.get(name)?.spec.emailDomains);
  }

  /** An organization and every organization below it (at any depth), the organization first. */
  withDescendants(name: string): string[] {
    const out = [name];
    for (let i = 0; i < out.length && out.length <= this.organizations.size; i++) {
      for (const child of this.children.get(out[i]!) ?? []) if (!out.includes(child)) out.push(child);
    }
    return out;
  }

  ownedDomains(name: string): string[] {
    return (this.claims.get(name) ?? []).map((c) => c.domain);
  }

  /** The one organization owning `domain` exactly, or undefined when none does or several do. */
  ownerOf(domain: string): OrganizationObject | undefined {
    const owners = this.exact.get(domain);
    return owners?.size === 1 ? this.organizations.get([...owners][0]!) : undefined;
  }

  /** As domains.ts `domainConflicts`: the claims of `affected` organizations that collide with another organization's. */
  conflicts(affected: Iterable<string>): DomainConflict[] {
    const out: DomainConflict[] = [];
    for (const name of affected) {
      const above = this.ancestors(name);
      for (const claim of this.claims.get(name) ?? []) {
        // Everyone whose claim is the same domain, a parent domain or a subdomain of it, in the namespace's (name) order.
        const near = new Set<string>([...(this.exact.get(claim.domain) ?? []), ...parents(claim.domain).flatMap((p) => [...(this.exact.get(p) ?? [])]), ...(this.below.get(claim.domain) ?? [])]);
        near.delete(name);
        const hit = [...near]
          .sort()
          .flatMap((o) => this.claims.get(o) ?? [])
          .find((other) => {
            const same = other.domain === claim.domain;
            const family = (isSubdomain(claim.domain, other.domain) && above.has(other.organization)) || (isSubdomain(other.domain, claim.domain) && this.ancestors(other.organization).has(name));
            return same || ((isSubdomain(claim.domain, other.domain) || isSubdomain(other.domain, claim.domain)) && !family);
          });
        if (hit) out.push({ claim, owner: hit.organization, ownerDomain: hit.domain });
      }
    }
    return out;
  }

  private ancestors(name: string): Set<string> {
    return new Set(
      organizationChain(this.organizations, name)
        .slice(1)
        .map((o) => o.metadata.name),
    );
  }

  private index(name: string): void {
    const claims = claimsOf(this.organizations.get(name)!, this.templates);
    this.claims.set(name, claims);
    for (const c of claims) {
      add(this.exact, c.domain, name);
      for (const p of parents(c.domain)) add(this.below, p, name);
    }
  }

  private unindex(name: string): void {
    for (const c of this.claims.get(name) ?? []) {
      drop(this.exact, c.domain, name);
      for (const p of parents(c.domain)) drop(this.below, p, name);
    }
    this.claims.delete(name);
  }

  private reindexUsers(template: string): void {
    for (const name of this.users.get(template) ?? []) {
      this.unindex(name);
      this.index(name);
    }
  }
}
