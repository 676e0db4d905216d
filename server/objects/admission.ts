import { MAX_ORGANIZATION_DEPTH, kindByName, parentCycle, type AnyObject, type OrganizationObject } from '../../api/index.ts';
import { InvalidObject } from '../errors.ts';
import { claimAdmissionErrors } from '../governance/claim-admission.ts';
import { contractAdmissionErrors } from '../governance/contract-admission.ts';
import { domainAdmissionErrors } from '../governance/domain-admission.ts';
import type { Repositories } from '../store/index.ts';
import { organizationOf } from './scope.ts';

/**
 * What an object must satisfy against the others before it is stored: its references exist (and
 * a client it names is its organization's), no cycle of parents, vanity domains held once, the
 * governance admissions (domains, contracts, claims), one Workspace a namespace.
 */
export async function checkReferences(repo: Repositories, object: AnyObject, label: string): Promise<void> {
  const namespace = object.metadata.namespace!;
  const def = kindByName(object.kind)!;
  const errors: { path: string; message: string }[] = [];
  for (const ref of def.references(object.spec)) {
    const self = ref.kind === object.kind && ref.name === object.metadata.name;
    const target = self ? undefined : await repo.objects.get(ref.kind, namespace, ref.name);
    if (self) errors.push({ path: `${ref.field}.name`, message: `${object.kind} ${object.metadata.name} cannot reference itself` });
    else if (!target) errors.push({ path: `${ref.field}.name`, message: `${ref.kind} "${ref.name}" does not exist in namespace ${namespace}` });
    else if (ref.kind === 'Client' && object.kind !== 'Client') {
      // A mapping or policy may only narrow to a client of its own organization; a policy may
      // also name a workspace (shared-application) client: at the shared issuer, what the
      // organization's users may get from that client is its policies' to say.
      const own = organizationOf(object);
      const clientOrg = organizationOf(target.object);
      const sharedClientPolicy = object.kind === 'AccessPolicy' && clientOrg === null;
      if (clientOrg !== own && !sharedClientPolicy) {
        errors.push({ path: `${ref.field}.name`, message: `Client "${ref.name}" belongs to ${clientOrg ? `organization ${clientOrg}` : 'the workspace'}, not to organization ${own}` });
      }
    }
  }
  if (object.kind === 'Organization' && object.spec.parentRef && errors.length === 0) {
    // The parents only, read by name: a cycle is a walk up the chain.
    const orgs = new Map<string, OrganizationObject>([[object.metadata.name, object]]);
    for (let next: string | undefined = object.spec.parentRef?.name; next !== undefined && !orgs.has(next) && orgs.size <= MAX_ORGANIZATION_DEPTH; ) {
      const parent = (await repo.objects.get('Organization', namespace, next))?.object as OrganizationObject | undefined;
      if (!parent) break;
      orgs.set(next, parent);
      next = parent.spec.parentRef?.name;
    }
    const cycle = parentCycle(orgs, object.metadata.name);
    if (cycle) errors.push({ path: 'spec.parentRef.name', message: `would make a cycle of parents: ${cycle.join(' → ')}` });
  }
  if (object.kind === 'Organization' && object.spec.domains?.length) {
    // A vanity domain is an issuer: it names one organization, across every namespace of the server.
    const others = (await repo.objects.list({ kind: 'Organization' })).filter((o) => o.object.metadata.namespace !== namespace || o.object.metadata.name !== object.metadata.name);
    object.spec.domains.forEach((domain, i) => {
      const holder = others.find((o) => ((o.object.spec as { domains?: string[] }).domains ?? []).includes(domain));
      if (holder) errors.push({ path: `spec.domains[${i}]`, message: `"${domain}" is already a vanity domain of Organization ${holder.object.metadata.namespace}/${holder.object.metadata.name}` });
    });
  }
  if (errors.length === 0) errors.push(...(await domainAdmissionErrors(repo, object, organizationOf(object))));
  errors.push(...(await contractAdmissionErrors(repo, object)));
  errors.push(...(await claimAdmissionErrors(repo, object)));
  if (object.kind === 'Workspace') {
    const others = (await repo.objects.list({ kind: 'Workspace', namespace })).filter((w) => w.object.metadata.name !== object.metadata.name);
    if (others.length > 0) errors.push({ path: 'metadata.name', message: `namespace ${namespace} already has Workspace ${others[0]!.object.metadata.name}; a namespace has one Workspace` });
  }
  if (errors.length > 0) {
    throw new InvalidObject(`${label}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors, object: label, title: 'Invalid reference' });
  }
}
