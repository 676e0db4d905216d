import { ancestry } from './organization-tree.ts';
import { applyRank, type AnyObject, type OrganizationObject } from './kinds/index.ts';

/**
 * Orders declarations so that everything an object references is applied before it:
 * kinds in dependency order, organizations parents first (cycles keep their input order
 * and are refused when applied), then by namespace and name for a stable result.
 */
export function sortForApply<T extends { object: AnyObject }>(items: readonly T[]): T[] {
  const byNamespace = new Map<string | undefined, Map<string, OrganizationObject>>();
  for (const { object } of items) {
    if (object.kind !== 'Organization') continue;
    const orgs = byNamespace.get(object.metadata.namespace) ?? new Map<string, OrganizationObject>();
    orgs.set(object.metadata.name, object);
    byNamespace.set(object.metadata.namespace, orgs);
  }
  const orgDepth = (o: OrganizationObject) => Math.max(0, ancestry(byNamespace.get(o.metadata.namespace)!, o.metadata.name).chain.length - 1);
  const rank = (o: AnyObject) => applyRank(o.kind) * 1000 + (o.kind === 'Organization' ? orgDepth(o) : 0);
  return [...items].sort((a, b) => rank(a.object) - rank(b.object) || (a.object.metadata.namespace ?? '').localeCompare(b.object.metadata.namespace ?? '') || a.object.metadata.name.localeCompare(b.object.metadata.name));
}
