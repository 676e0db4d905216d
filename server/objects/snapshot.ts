import type { KindName } from '../../api/index.ts';
import type { Repositories, StoredObject } from '../store/index.ts';

type ObjectRepository = Repositories['objects'];

/**
 * The objects of one namespace held in memory for the length of one transaction, in front of
 * the repository bound to it: reads of that namespace come from memory, writes go to the
 * repository and into memory. A batch of writes (ObjectService.applyMany) pays for listing the
 * namespace once, not once per object its admission checks list (email domains, standing).
 * Reads of other namespaces, and every other method, go to the repository.
 */
export function namespaceSnapshot(inner: ObjectRepository, namespace: string): ObjectRepository {
  const kinds = new Map<KindName, StoredObject[]>();
  const index = new Map<string, StoredObject>();
  const keyOf = (kind: KindName, name: string) => `${kind}\u0000${name}`;
  // Read on the first list of the namespace: a batch whose admission only looks objects up by name never lists it.
  let loaded = false;
  const load = async () => {
    if (loaded) return;
    for (const stored of await inner.list({ namespace })) {
      const kind = stored.object.kind;
      const list = kinds.get(kind) ?? [];
      kinds.set(kind, list);
      list.push(stored);
      index.set(keyOf(kind, stored.object.metadata.name), stored);
    }
    loaded = true;
  };
  /** Where `name` sits (or would sit) in a kind's list, kept sorted by name as the repository's ORDER BY. */
  const position = (list: StoredObject[], name: string): number => {
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.object.metadata.name < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const remember = (stored: StoredObject) => {
    const { kind, metadata } = stored.object;
    const list = kinds.get(kind) ?? [];
    kinds.set(kind, list);
    const at = position(list, metadata.name);
    if (list[at]?.object.metadata.name === metadata.name) list[at] = stored;
    else list.splice(at, 0, stored);
    index.set(keyOf(kind, metadata.name), stored);
  };
  const forget = (kind: KindName, name: string) => {
    const list = kinds.get(kind) ?? [];
    const at = position(list, name);
    if (list[at]?.object.metadata.name === name) list.splice(at, 1);
    index.delete(keyOf(kind, name));
  };

  // The repository's own methods stay reachable (and bound to its executor) through the prototype.
  const snapshot = Object.create(inner) as ObjectRepository;
  Object.assign(snapshot, {
    async get(kind: KindName, ns: string, name: string) {
      return ns === namespace && loaded ? index.get(keyOf(kind, name)) : inner.get(kind, ns, name);
    },
    async list(filter: { kind?: KindName; namespace?: string } = {}) {
      if (filter.namespace !== namespace) return inner.list(filter);
      await load();
      if (filter.kind) return [...(kinds.get(filter.kind) ?? [])];
      return [...kinds.keys()].sort().flatMap((k) => kinds.get(k)!);
    },
    async put(stored: Parameters<ObjectRepository['put']>[0]) {
      await inner.put(stored);
      if (stored.object.metadata.namespace !== namespace || !loaded) return;
      // As the repository does: a replaced object keeps the status it had.
      const before = index.get(keyOf(stored.object.kind, stored.object.metadata.name));
      remember({ ...stored, status: before ? before.status : (stored.status ?? null) });
    },
    async setStatus(kind: KindName, ns: string, name: string, status: Record<string, unknown>) {
      const changed = await inner.setStatus(kind, ns, name, status);
      const before = ns === namespace && loaded ? index.get(keyOf(kind, name)) : undefined;
      if (changed && before) remember({ ...before, status });
      return changed;
    },
    async delete(kind: KindName, ns: string, name: string) {
      const deleted = await inner.delete(kind, ns, name);
      if (ns === namespace && loaded) forget(kind, name);
      return deleted;
    },
  });
  return snapshot;
}
