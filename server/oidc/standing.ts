import { durationSeconds, type OrganizationObject, type WorkspaceObject } from '../../api/index.ts';

export type Standing = { active: true } | { active: false; reason: 'suspended' | 'contract-ended' | 'contract-not-started' | 'parent-inactive' | 'certification-overdue'; detail: string };

/** The Workspace's lifecycle settings that bear on standing. */
export type LifecycleSettings = NonNullable<WorkspaceObject['spec']['lifecycle']>;

/**
 * An organization as its standing is judged: a certification made through the admin API
 * counts when it is later than the declared `spec.contract.certifiedAt` (git may lag).
 */
export function withCertification(org: OrganizationObject, certifiedAt: number | undefined): OrganizationObject {
  const contract = org.spec.contract;
  if (!contract || certifiedAt === undefined) return org;
  if (contract.certifiedAt && Date.parse(contract.certifiedAt) >= certifiedAt) return org;
  return { ...org, spec: { ...org.spec, contract: { ...contract, certifiedAt: new Date(certifiedAt).toISOString() } } };
}

/**
 * When an organization's certification falls due: a review period after its last
 * certification (or, never certified, after its contract started or it was first declared).
 * Undefined when the Workspace sets no review period.
 */
export function certificationDueAt(org: OrganizationObject, lifecycle: LifecycleSettings | undefined): number | undefined {
  if (!lifecycle?.reviewPeriod) return undefined;
  const contract = org.spec.contract;
  const since = contract?.certifiedAt ?? contract?.startsAt ?? org.metadata.creationTimestamp;
  if (!since) return undefined;
  return Date.parse(since) + durationSeconds(lifecycle.reviewPeriod) * 1000;
}

/**
 * Whether an organization may sign in and get tokens right now. Evaluated on every
 * request with the injected clock, so a contract end (or an overdue certification, when
 * the Workspace asks for that) needs no restart and no job.
 * A sub-organization stands only while every parent does.
 */
export function standingOf(chain: OrganizationObject[], now: number, lifecycle?: LifecycleSettings): Standing {
  const [org, ...parents] = chain;
  if (!org) return { active: false, reason: 'suspended', detail: 'unknown organization' };
  const own = ownStanding(org, now, lifecycle);
  if (!own.active) return own;
  for (const parent of parents) {
    const p = ownStanding(parent, now, lifecycle);
    if (!p.active) return { active: false, reason: 'parent-inactive', detail: `parent organization ${parent.metadata.name}: ${p.detail}` };
  }
  return own;
}

/** Date.parse, remembered: every token request asks about the same few contract dates. */
const instants = new Map<string, number>();
function instant(dateTime: string): number {
  let at = instants.get(dateTime);
  if (at === undefined) {
    if (instants.size >= 10_000) instants.clear();
    instants.set(dateTime, (at = Date.parse(dateTime)));
  }
  return at;
}

function ownStanding(org: OrganizationObject, now: number, lifecycle: LifecycleSettings | undefined): Standing {
  const name = org.metadata.name;
  if (org.spec.suspended) return { active: false, reason: 'suspended', detail: `organization ${name} is suspended` };
  const contract = org.spec.contract;
  if (contract && instant(contract.endsAt) <= now) return { active: false, reason: 'contract-ended', detail: `the contract of organization ${name} ended at ${contract.endsAt}` };
  if (contract?.startsAt && instant(contract.startsAt) > now) return { active: false, reason: 'contract-not-started', detail: `the contract of organization ${name} starts at ${contract.startsAt}` };
  if (lifecycle?.suspendWhenCertificationOverdue) {
    const due = certificationDueAt(org, lifecycle);
    if (due !== undefined && due <= now) return { active: false, reason: 'certification-overdue', detail: `the certification of organization ${name} was due at ${new Date(due).toISOString()}` };
  }
  return { active: true };
}
