/**
 * The namespace snapshot a bulk apply reads through answers every read exactly as the
 * repository it stands in front of, whatever was written through it, and in whatever order
 * its kinds (or the whole namespace) were first listed.
 */
import { describe, expect, it } from '@jest/globals';
import type { AnyObject } from '../../../api/index.ts';
import { namespaceSnapshot } from '../../../server/objects/snapshot.ts';
import type { Repositories } from '../../../server/store/index.ts';
import { NAMESPACE, client, organization, stored } from '../../support/store-fixtures.ts';
import { storeBackends } from '../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;

type Objects = Repositories['objects'];
const names = (list: { object: AnyObject; status: unknown }[]) => list.map((s) => `${s.object.kind}/${s.object.metadata.name}@${s.object.metadata.generation}:${JSON.stringify(s.status)}`);

/** Every read both answer, compared. */
async function sameReads(snapshot: Objects, repo: Objects): Promise<void> {
  for (const filter of [{ namespace: NAMESPACE }, { namespace: NAMESPACE, kind: 'Organization' as const }, { namespace: NAMESPACE, kind: 'Client' as const }, { namespace: NAMESPACE, kind: 'Workspace' as const }, { namespace: 'elsewhere' }, {}]) {
    expect(names(await snapshot.list(filter))).toEqual(names(await repo.list(filter)));
  }
  for (const [kind, name] of [
    ['Organization', 'cascade'],
    ['Organization', 'forge'],
    ['Organization', 'apex'],
    ['Client', 'cascade-portal'],
    ['Client', 'zeta-app'],
  ] as const) {
    expect(await snapshot.get(kind, NAMESPACE, name)).toEqual(await repo.get(kind, NAMESPACE, name));
  }
}

backends.each('the namespace snapshot', (backend) => {
  describe.each([
    ['nothing listed first', async (_s: Objects) => {}],
    ['one kind listed first', async (s: Objects) => void (await s.list({ namespace: NAMESPACE, kind: 'Organization' }))],
    ['the namespace listed first', async (s: Objects) => void (await s.list({ namespace: NAMESPACE }))],
  ])('%s', (_label, warm) => {
    it('answers as the repository after puts, replacements, status writes and deletes made through it', async () => {
      const store = await open(await backend.fresh());
      await store.objects.put(stored(organization('forge', 'Forge'), 'uid-forge', 1000));
      await store.objects.put(stored(client('cascade-portal', 'forge'), 'uid-portal', 1000));
      await store.objects.put(stored({ ...organization('other', 'Other'), metadata: { name: 'other', namespace: 'elsewhere', generation: 1 } } as AnyObject, 'uid-other', 1000));
      await store.transaction(async (repo) => {
        const snapshot = namespaceSnapshot(repo.objects, NAMESPACE);
        await warm(snapshot);
        await snapshot.put(stored(organization('cascade', 'Cascade'), 'uid-cascade', 2000));
        await snapshot.put(stored(organization('apex', 'Apex'), 'uid-apex', 2000));
        await sameReads(snapshot, repo.objects);
        expect(await snapshot.setStatus('Organization', NAMESPACE, 'forge', { observedGeneration: 1 })).toBe(true);
        // A replacement keeps the status, as the repository's does.
        await snapshot.put(stored(organization('forge', 'Forge Supplies'), 'uid-forge', 3000, 2));
        await snapshot.put(stored(client('zeta-app', 'cascade'), 'uid-zeta', 3000));
        await sameReads(snapshot, repo.objects);
        expect(await snapshot.delete('Client', NAMESPACE, 'cascade-portal')).toBe(true);
        expect(await snapshot.delete('Organization', NAMESPACE, 'nobody')).toBe(false);
        expect(await snapshot.setStatus('Client', NAMESPACE, 'nobody', {})).toBe(false);
        await sameReads(snapshot, repo.objects);
        expect((await snapshot.get('Organization', NAMESPACE, 'forge'))?.status).toEqual({ observedGeneration: 1 });
      });
    });
  });

  it('hands out copies of its lists: a caller changing one changes nothing for the next', async () => {
    const store = await open(await backend.fresh());
    await store.objects.put(stored(organization('forge', 'Forge'), 'uid-forge', 1000));
    await store.transaction(async (repo) => {
      const snapshot = namespaceSnapshot(repo.objects, NAMESPACE);
      (await snapshot.list({ namespace: NAMESPACE })).pop();
      (await snapshot.list({ namespace: NAMESPACE, kind: 'Organization' })).pop();
      expect(await snapshot.list({ namespace: NAMESPACE })).toHaveLength(1);
      expect(await snapshot.list({ namespace: NAMESPACE, kind: 'Organization' })).toHaveLength(1);
    });
  });
});
