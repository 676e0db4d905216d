import type { AnyObject, KindName } from '../../api/index.ts';
import type { Repositories, StoredObject } from '../store/index.ts';

type ObjectRepository = Repositories['objects'];

/** The repository's order: by kind, then by name. */
const before = (a: StoredObject, b: { kind: string; name: string }) => a.object.kind < b.kind || (a.object.kind === b.kind && a.object.metadata.name < b.name);

/** Where an object of that kind and name sits (or would sit) in a list kept in the repository's order. */
function position(list: readonly StoredObject[], kind: string, name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(list[mid]!, { kind, name })) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upsert(list: StoredObject[], stored: StoredObject): void {
  const { kind, metadata } = stored.object;
  const at = position(list, kind, metadata.name);
  const there = list[at];
  if (there && there.object.kind === kind && there.object.metadata.name === metadata.name) list[at] = stored;
  else list.splice(at, 0, stored);
}

function remove(list: StoredObject[], kind: string, name: string): void {
  const at = position(list, kind, name);
  const there = list[at];
  if (there && there.object.kind === kind && there.object.metadata.name === name) list.splice(at, 1);
}

/** What is derived from a namespace's objects (an index) and kept current by following the writes made through a snapshot. */
export interface Follower {
  put(object: AnyObject): void;
  delete(kind: KindName, name: string): void;
}

const FOLLOWERS = Symbol('followers');

/**
 * The follower kept under `key` for the snapshot `objects` is (built on first use, then told of
 * every write made through it), so a batch builds its index once; through anything but a
 * snapshot, a fresh one on each call.
 */
export async function follower<T extends Follower>(objects: ObjectRepository, key: string, build: () => Promise<T>): Promise<T> {
  const followers = (objects as { [FOLLOWERS]?: Map<string, Follower> })[FOLLOWERS];
  if (!followers) return build();
  let found = followers.get(key) as T | undefined;
  if (!found) {
    found = await build();
    followers.set(key, found);
  }
  return found;
}

/** The follower kept under `key` by the snapshot `objects`, if one was built or given to it. */
export function followerOf<T extends Follower>(objects: ObjectRepository, key: string): T | undefined {
  return (objects as { [FOLLOWERS]?: Map<string, Follower> })[FOLLOWERS]?.get(key) as T | undefined;
}

/** Hands the snapshot `objects` a follower already current with the repository (one kept from an earlier transaction). */
export function giveFollower(objects: ObjectRepository, key: string, follower: Follower): void {
  (objects as { [FOLLOWERS]?: Map<string, Follower> })[FOLLOWERS]?.set(key, follower);
}

/**
 * The objects of one namespace held in memory for the length of one transaction, in front of
 * the repository bound to it: reads of that namespace come from memory, writes go to the
 * repository and into memory. A batch of writes (ObjectService.applyMany) pays for reading a
 * kind (or the whole namespace) once, on its first list, not once per object whose admission
 * lists it (email domains, claims, standing). Reads of other namespaces, and every other
 * method, go to the repository.
 */
export function namespaceSnapshot(inner: ObjectRepository, namespace: string): ObjectRepository {
  /** The kinds read so far, each in name order. */
  const kinds = new Map<KindName, StoredObject[]>();
  /** Every object of the namespace in the repository's order, once it was listed whole. */
  let all: StoredObject[] | undefined;

  /** Whether memory holds every object of that kind in the namespace. */
  const known = (kind: KindName) => all !== undefined || kinds.has(kind);
  const loadKind = async (kind: KindName): Promise<StoredObject[]> => {
    let list = kinds.get(kind);
    if (!list) {
      list = all ? [] : await inner.list({ kind, namespace });
      kinds.set(kind, list);
    }
    return list;
  };
  const loadAll = async (): Promise<StoredObject[]> => {
    if (!all) {
      // The repository has seen every write made through here: it is as current as memory.
      all = await inner.list({ namespace });
      kinds.clear();
      for (const stored of all) {
        const list = kinds.get(stored.object.kind) ?? [];
        kinds.set(stored.object.kind, list);
        list.push(stored);
      }
    }
    return all;
  };
  const find = (kind: KindName, name: string): StoredObject | undefined => {
    const list = kinds.get(kind) ?? [];
    const there = list[position(list, kind, name)];
    return there && there.object.metadata.name === name ? there : undefined;
  };
  const remember = (stored: StoredObject) => {
    const { kind } = stored.object;
    const list = kinds.get(kind) ?? (all ? kinds.set(kind, []).get(kind) : undefined);
    if (list) upsert(list, stored);
    if (all) upsert(all, stored);
  };

  // The repository's own methods stay reachable (and bound to its executor) through the prototype.
  const snapshot = Object.create(inner) as ObjectRepository;
  const followers = new Map<string, Follower>();
  Object.assign(snapshot, {
    [FOLLOWERS]: followers,
    async get(kind: KindName, ns: string, name: string) {
      return ns === namespace && known(kind) ? find(kind, name) : inner.get(kind, ns, name);
    },
    async list(filter: { kind?: KindName; namespace?: string } = {}) {
      if (filter.namespace !== namespace) return inner.list(filter);
      return [...(filter.kind ? await loadKind(filter.kind) : await loadAll())];
    },
    async put(stored: Parameters<ObjectRepository['put']>[0]) {
      await inner.put(stored);
      const { kind, metadata } = stored.object;
      if (metadata.namespace !== namespace) return;
      for (const f of followers.values()) f.put(stored.object);
      if (!known(kind)) return;
      // As the repository does: a replaced object keeps its uid, creation time and status.
      const earlier = find(kind, metadata.name);
      remember(earlier ? { ...stored, uid: earlier.uid, createdAt: earlier.createdAt, status: earlier.status } : { ...stored, status: stored.status ?? null });
    },
    async setStatus(kind: KindName, ns: string, name: string, status: Record<string, unknown>) {
      const changed = await inner.setStatus(kind, ns, name, status);
      const earlier = ns === namespace && known(kind) ? find(kind, name) : undefined;
      if (changed && earlier) remember({ ...earlier, status });
      return changed;
    },
    async delete(kind: KindName, ns: string, name: string) {
      const deleted = await inner.delete(kind, ns, name);
      if (ns === namespace) {
        if (deleted) for (const f of followers.values()) f.delete(kind, name);
        const list = kinds.get(kind);
        if (list) remove(list, kind, name);
        if (all) remove(all, kind, name);
      }
      return deleted;
    },
  });
  return snapshot;
}
