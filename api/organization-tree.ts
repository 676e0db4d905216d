import type { OrganizationObject } from './kinds/index.ts';

/** The organization tree: walks up the parent chain and down to the descendants. */

/** Deeper than any sane hierarchy: a walk stops here, and a write that would need more is refused as a cycle. */
export const MAX_ORGANIZATION_DEPTH = 64;

/**
 * The one walk up the parent chain: the organization and its parents, nearest first. `cycle`
 * is set when the walk met a name twice (or ran past MAX_ORGANIZATION_DEPTH): the names in the
 * order walked, the repeated one last. A missing parent ends the chain.
 */
export function ancestry(orgs: ReadonlyMap<string, OrganizationObject>, name: string): { chain: OrganizationObject[]; cycle: string[] | undefined } {
  const chain: OrganizationObject[] = [];
  const names: string[] = [];
  for (let next: string | undefined = name; next !== undefined; ) {
    if (names.includes(next) || names.length >= MAX_ORGANIZATION_DEPTH) return { chain, cycle: [...names, next] };
    const org = orgs.get(next);
    if (!org) break;
    chain.push(org);
    names.push(next);
    next = org.spec.parentRef?.name;
  }
  return { chain, cycle: undefined };
}

/** Whether `name`'s parents lead back to it (or deeper than MAX_ORGANIZATION_DEPTH): the walk spelled out, else undefined. */
export function parentCycle(orgs: ReadonlyMap<string, OrganizationObject>, name: string): string[] | undefined {
  const { cycle } = ancestry(orgs, name);
  return cycle && (cycle.at(-1) === name || cycle.length > MAX_ORGANIZATION_DEPTH) ? cycle : undefined;
}

/** An organization and its parents, nearest first; empty when it does not exist. */
export function organizationChain(orgs: ReadonlyMap<string, OrganizationObject>, name: string): OrganizationObject[] {
  return ancestry(orgs, name).chain;
}

/** An organization and every organization below it (at any depth), the organization first. */
export function withDescendants(orgs: ReadonlyMap<string, OrganizationObject>, name: string): string[] {
  const out = [name];
  // Breadth-first; `out` doubles as the visited set, so a cycle cannot loop.
  for (let i = 0; i < out.length && out.length <= orgs.size; i++) {
    for (const org of orgs.values()) {
      if (org.spec.parentRef?.name === out[i] && !out.includes(org.metadata.name)) out.push(org.metadata.name);
    }
  }
  return out;
}
