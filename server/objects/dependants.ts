import type { KindName } from '../../api/index.ts';
import type { Repositories } from '../store/index.ts';

/** Every object that references `kind/name`, directly or through others, with its depth. */
export async function dependantClosure(repo: Repositories, kind: KindName, namespace: string, name: string) {
  const found = new Map<string, { kind: KindName; name: string; field: string; depth: number }>();
  const visit = async (k: KindName, n: string, depth: number): Promise<void> => {
    for (const d of await repo.objects.dependantsOf(k, namespace, n)) {
      const key = `${d.kind}/${d.name}`;
      if (found.has(key) || (d.kind === kind && d.name === name)) continue;
      found.set(key, { ...d, depth });
      await visit(d.kind, d.name, depth + 1);
    }
  };
  await visit(kind, name, 1);
  return [...found.values()];
}
