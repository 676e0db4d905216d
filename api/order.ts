import { applyRank, type AnyObject } from './kinds/index.ts';

/**
 * Orders declarations so that everything an object references is applied before it:
 * kinds in dependency order, organizations parents first (cycles keep their input order
 * and are refused when applied), then by namespace and name for a stable result.
 */
export function sortForApply<T extends { object: AnyObject }>(items: readonly T[]): T[] {
  const depth = new Map<string, number>();
  const orgs = new Map(items.filter((i) => i.object.kind === 'Organization').map((i) => [`${i.object.metadata.namespace}/${i.object.metadata.name}`, i.object]));
  const orgDepth = (key: string, seen = new Set<string>()): number => {
    const known = depth.get(key);
    if (known !== undefined) return known;
    const org = orgs.get(key);
    const parent = org?.kind === 'Organization' ? org.spec.parentRef?.name : undefined;
    let d = 0;
    if (parent && !seen.has(key)) {
      seen.add(key);
      d = orgDepth(`${org!.metadata.namespace}/${parent}`, seen) + 1;
    }
    depth.set(key, d);
    return d;
  };
  const rank = (o: AnyObject) => applyRank(o.kind) * 1000 + (o.kind === 'Organization' ? orgDepth(`${o.metadata.namespace}/${o.metadata.name}`) : 0);
  return [...items].sort(
    (a, b) =>
      rank(a.object) - rank(b.object) ||
      (a.object.metadata.namespace ?? '').localeCompare(b.object.metadata.namespace ?? '') ||
      a.object.metadata.name.localeCompare(b.object.metadata.name),
  );
}
