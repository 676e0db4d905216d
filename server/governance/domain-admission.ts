import type { AnyObject, FieldError, OrganizationObject, OrganizationTemplateObject, UserObject } from '../../api/index.ts';
import type { Repositories } from '../store/index.ts';
import { follower } from '../objects/snapshot.ts';
import { DomainIndex } from './domain-index.ts';
import { describeConflict, emailDomain, type DomainConflict } from './domains.ts';

/** The key the email-domain index is kept under by a write's namespace snapshot. */
export const DOMAIN_INDEX = 'email-domains';

/**
 * Email domains belong to exactly one organization (domains.ts): checked
 * against the namespace as it would be after this write, inside the write's transaction,
 * which holds the namespace's lock so two racing writes cannot both pass.
 */
export async function domainAdmissionErrors(repo: Repositories, object: AnyObject, orgName: string | null): Promise<FieldError[]> {
  if (!['Organization', 'OrganizationTemplate', 'IdPConnection', 'User'].includes(object.kind)) return [];
  const namespace = object.metadata.namespace!;
  await repo.objects.lockNamespace(namespace);
  // Only the two kinds that own domains: the namespace's clients, mappings and users are most of its rows.
  // Inside a write's snapshot the index is built once per transaction and follows its writes.
  const index = await follower(repo.objects, DOMAIN_INDEX, async () => {
    const orgs = await repo.objects.list({ kind: 'Organization', namespace });
    const templates = await repo.objects.list({ kind: 'OrganizationTemplate', namespace });
    return new DomainIndex(
      orgs.map((o) => o.object as OrganizationObject),
      templates.map((t) => t.object as OrganizationTemplateObject),
    );
  });
  const name = object.metadata.name;
  if (object.kind === 'Organization' || object.kind === 'OrganizationTemplate') {
    // Who this write can put in a collision: the organization and those below it (a new
    // parent changes which subdomains are family), or every organization of the template.
    return index.trial(object, () => {
      const affected = object.kind === 'Organization' ? index.withDescendants(name) : index.inheritorsOf(name);
      return index.conflicts(affected).map((c) => ({ path: conflictPath(object, c), message: describeConflict(namespace, c) }));
    });
  }
  const takeover = object.kind === 'User' ? await takeoverErrors(repo, object, orgName ?? '') : [];
  if (!orgName) return takeover; // a workspace administrator belongs to no partner
  if (!index.organizations.has(orgName)) return takeover;
  const owned = index.ownedDomains(orgName);
  const ownership = (domain: string | undefined, shown: string) => {
    if (!domain) return `"${shown}" has no email domain an organization could own`;
    if (owned.includes(domain)) return undefined;
    const owner = index.ownerOf(domain);
    const ownedBy = owner ? `; it is owned by Organization ${namespace}/${owner.metadata.name}` : '';
    return owned.length === 0 ? `organization ${orgName} owns no email domain (declare spec.emailDomains on it first)${ownedBy}` : `"${domain}" is not an email domain of organization ${orgName} (${owned.join(', ')})${ownedBy}`;
  };
  if (object.kind === 'IdPConnection') {
    return (object.spec.emailDomains ?? []).flatMap((d, i) => {
      const message = ownership(d.toLowerCase(), d);
      return message ? [{ path: `spec.emailDomains[${i}]`, message: `an IdPConnection routes only its organization's domains: ${message}` }] : [];
    });
  }
  const message = ownership(emailDomain((object as UserObject).spec.email), (object as UserObject).spec.email);
  return [...(message ? [{ path: 'spec.email', message }] : []), ...takeover];
}

/**
 * A declaration never takes over an account of another organization (or of the workspace):
 * the runtime record keeps its organization, password, MFA and sessions, and an address
 * signs in to one account only.
 */
async function takeoverErrors(repo: Repositories, user: UserObject, organization: string): Promise<FieldError[]> {
  const namespace = user.metadata.namespace!;
  const where = (o: string) => (o ? 'another organization' : 'the workspace');
  const errors: FieldError[] = [];
  const existing = await repo.users.find(namespace, user.metadata.name);
  if (existing && existing.organization !== organization) errors.push({ path: 'metadata.name', message: `user ${user.metadata.name} already exists in ${where(existing.organization)}; choose another name` });
  const holder = (await repo.users.findByEmail(namespace, user.spec.email.toLowerCase())).find((u) => u.organization !== organization);
  if (holder) errors.push({ path: 'spec.email', message: `${user.spec.email} already has an account in ${where(holder.organization)}; an address signs in to one account` });
  return errors;
}

function conflictPath(object: AnyObject, c: DomainConflict): string {
  if (object.kind === 'OrganizationTemplate') return `spec.emailDomains[${c.claim.index}]`;
  if (c.claim.organization !== object.metadata.name) return 'spec.parentRef.name';
  return c.claim.template ? 'spec.templateRef.name' : `spec.emailDomains[${c.claim.index}]`;
}
