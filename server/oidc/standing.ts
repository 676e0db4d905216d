import type { OrganizationObject } from '../../api/index.ts';

export type Standing = { active: true } | { active: false; reason: 'suspended' | 'contract-ended' | 'contract-not-started' | 'parent-inactive'; detail: string };

/**
 * Whether an organization may sign in and get tokens right now. Evaluated on every
 * request with the injected clock, so a contract end needs no restart and no job.
 * A sub-organization stands only while every parent does.
 */
export function standingOf(chain: OrganizationObject[], now: number): Standing {
  const [org, ...parents] = chain;
  if (!org) return { active: false, reason: 'suspended', detail: 'unknown organization' };
  const own = ownStanding(org, now);
  if (!own.active) return own;
  for (const parent of parents) {
    const p = ownStanding(parent, now);
    if (!p.active) return { active: false, reason: 'parent-inactive', detail: `parent organization ${parent.metadata.name}: ${p.detail}` };
  }
  return own;
}

function ownStanding(org: OrganizationObject, now: number): Standing {
  const name = org.metadata.name;
  if (org.spec.suspended) return { active: false, reason: 'suspended', detail: `organization ${name} is suspended` };
  const contract = org.spec.contract;
  if (contract && Date.parse(contract.endsAt) <= now) return { active: false, reason: 'contract-ended', detail: `the contract of organization ${name} ended at ${contract.endsAt}` };
  if (contract?.startsAt && Date.parse(contract.startsAt) > now) return { active: false, reason: 'contract-not-started', detail: `the contract of organization ${name} starts at ${contract.startsAt}` };
  return { active: true };
}
