import { applyRank, kindByName, parentCycle, type AnyObject, type OrganizationObject } from '../api/index.ts';
import { keyOf, objectKey, type DesiredObject } from './desired-state.ts';

/** Runs `work` over `items`, at most `limit` at once; the first failure stops further work and is thrown. */
export async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * Groups objects into levels that can be written concurrently: kinds in apply order, and within a
 * kind by how deep its references to the same kind go (sub-organizations after their parents,
 * clients after the clients they exchange tokens for).
 */
export function levels<T>(items: readonly T[], objectOf: (item: T) => AnyObject): T[][] {
  const byKey = new Map(items.map((i) => [keyOf(objectKey(objectOf(i))), objectOf(i)]));
  const depth = new Map<string, number>();
  const depthOf = (object: AnyObject, seen: Set<string>): number => {
    const key = keyOf(objectKey(object));
    const known = depth.get(key);
    if (known !== undefined) return known;
    seen.add(key);
    let d = 0;
    for (const ref of kindByName(object.kind)!.references(object.spec)) {
      if (ref.kind !== object.kind) continue;
      const targetKey = keyOf({ kind: ref.kind, namespace: object.metadata.namespace ?? 'default', name: ref.name });
      const target = byKey.get(targetKey);
      if (target && !seen.has(targetKey)) d = Math.max(d, depthOf(target, seen) + 1);
    }
    seen.delete(key);
    depth.set(key, d);
    return d;
  };
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const object = objectOf(item);
    const rank = applyRank(object.kind) * 10_000 + depthOf(object, new Set());
    const group = groups.get(rank);
    if (group) group.push(item);
    else groups.set(rank, [item]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, group]) => group);
}

/** Declared organizations whose parents lead back to themselves, with the cycle spelled out. */
export function parentCycles(objects: readonly DesiredObject[], only?: ReadonlySet<string>): Map<string, string> {
  const byNamespace = new Map<string, Map<string, OrganizationObject>>();
  for (const { object } of objects) {
    if (object.kind !== 'Organization') continue;
    const namespace = object.metadata.namespace ?? 'default';
    byNamespace.set(namespace, (byNamespace.get(namespace) ?? new Map<string, OrganizationObject>()).set(object.metadata.name, object));
  }
  const found = new Map<string, string>();
  for (const orgs of byNamespace.values()) {
    for (const org of orgs.values()) {
      if (only && !only.has(keyOf(objectKey(org)))) continue;
      const cycle = parentCycle(orgs, org.metadata.name);
      if (cycle) found.set(keyOf(objectKey(org)), `${keyOf(objectKey(org))}: spec.parentRef.name: makes a cycle of parents: ${cycle.join(' → ')}`);
    }
  }
  return found;
}
