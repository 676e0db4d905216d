/**
 * Conformance of the objects repository: declared configuration objects, the references
 * between them, and the per-namespace configuration version. Every method, on SQLite and on
 * PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import type { AnyObject } from '../../../../api/index.ts';
import { NAMESPACE, client, organization, referencesOf, stored } from '../../../support/store-fixtures.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { CHANGE_LOG_VERSIONS } from '../../../../server/store/repositories/objects.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the objects repository', (backend) => {
  describe('declared objects', () => {
    it('round-trip through put, get, list and delete', async () => {
      const store = await open(await backend.fresh());
      const cascade = organization('cascade', 'Cascade Consulting');
      const forge = organization('forge', 'Forge Supplies');
      const portal = client('cascade-portal', 'cascade');
      await store.objects.put(stored(cascade, 'uid-cascade', 1000));
      await store.objects.put(stored(forge, 'uid-forge', 1001));
      await store.objects.put(stored(portal, 'uid-portal', 1002));

      expect(await store.objects.get('Organization', NAMESPACE, 'cascade')).toEqual({
        uid: 'uid-cascade',
        generation: 1,
        object: cascade,
        status: null,
        createdAt: 1000,
        updatedAt: 1000,
      });
      expect(await store.objects.get('Organization', NAMESPACE, 'pinnacle')).toBeUndefined();

      const names = (list: { object: AnyObject }[]) => list.map((s) => `${s.object.kind}/${s.object.metadata.name}`);
      expect(names(await store.objects.list())).toEqual(['Client/cascade-portal', 'Organization/cascade', 'Organization/forge']);
      expect(names(await store.objects.list({ kind: 'Organization' }))).toEqual(['Organization/cascade', 'Organization/forge']);
      expect(await store.objects.list({ namespace: 'elsewhere' })).toEqual([]);

      expect(await store.objects.delete('Organization', NAMESPACE, 'forge')).toBe(true);
      expect(await store.objects.delete('Organization', NAMESPACE, 'forge')).toBe(false);
      expect(await store.objects.get('Organization', NAMESPACE, 'forge')).toBeUndefined();
      expect(names(await store.objects.list({ kind: 'Organization', namespace: NAMESPACE }))).toEqual(['Organization/cascade']);
    });

    it('keep their uid, creation time and status when they are put again', async () => {
      const store = await open(await backend.fresh());
      await store.objects.put(stored(organization('cascade', 'Cascade Consulting'), 'uid-first', 1000));
      await store.objects.setStatus('Organization', NAMESPACE, 'cascade', { observedGeneration: 1 });

      const renamed = organization('cascade', 'Cascade Consulting Group');
      await store.objects.put({ uid: 'uid-second', generation: 2, object: renamed, createdAt: 5000, updatedAt: 6000 });

      expect(await store.objects.get('Organization', NAMESPACE, 'cascade')).toEqual({
        uid: 'uid-first',
        generation: 2,
        object: renamed,
        status: { observedGeneration: 1 },
        createdAt: 1000,
        updatedAt: 6000,
      });
    });

    it('carry a status that can be set and read back', async () => {
      const store = await open(await backend.fresh());
      await store.objects.put(stored(organization('cascade', 'Cascade Consulting'), 'uid-cascade', 1000));
      const status = {
        observedGeneration: 1,
        issuer: 'https://id.blixit.example/blixit/cascade',
        conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      };
      expect(await store.objects.setStatus('Organization', NAMESPACE, 'cascade', status)).toBe(true);
      expect((await store.objects.get('Organization', NAMESPACE, 'cascade'))?.status).toEqual(status);
      expect(await store.objects.setStatus('Organization', NAMESPACE, 'nobody', status)).toBe(false);
    });

    it('record their references, so the objects depending on one can be found', async () => {
      const store = await open(await backend.fresh());
      const portal = client('cascade-portal', 'cascade');
      const api = client('cascade-api', 'cascade');
      for (const [object, uid] of [
        [organization('cascade', 'Cascade Consulting'), 'u1'],
        [portal, 'u2'],
        [api, 'u3'],
      ] as const) {
        await store.objects.put(stored(object, uid, 1000));
        await store.objects.setReferences(object.kind, NAMESPACE, object.metadata.name, referencesOf(object));
      }
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'cascade')).toEqual([
        { kind: 'Client', name: 'cascade-api', field: 'spec.organizationRef' },
        { kind: 'Client', name: 'cascade-portal', field: 'spec.organizationRef' },
      ]);
      expect(await store.objects.dependantsOf('Organization', 'elsewhere', 'cascade')).toEqual([]);

      // Re-pointing a client replaces its references; deleting one removes them.
      await store.objects.setReferences('Client', NAMESPACE, 'cascade-api', referencesOf(client('cascade-api', 'forge')));
      await store.objects.delete('Client', NAMESPACE, 'cascade-portal');
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'cascade')).toEqual([]);
      expect(await store.objects.dependantsOf('Organization', NAMESPACE, 'forge')).toEqual([{ kind: 'Client', name: 'cascade-api', field: 'spec.organizationRef' }]);
    });

    it('count configuration versions per namespace, bumped inside transactions that lock their namespace', async () => {
      const store = await open(await backend.fresh());
      expect(await store.objects.configVersions()).toEqual(new Map());
      await store.transaction(async (repo) => {
        await repo.objects.lockNamespace(NAMESPACE);
        await repo.objects.bumpConfigVersion(NAMESPACE, []);
      });
      await store.objects.bumpConfigVersion(NAMESPACE, []);
      await store.objects.bumpConfigVersion('elsewhere', []);
      expect(await store.objects.configVersions()).toEqual(
        new Map([
          [NAMESPACE, 2],
          ['elsewhere', 1],
        ]),
      );
      // The lock serialises writers of one namespace: racing ones each count.
      await Promise.all(
        Array.from({ length: 5 }, () =>
          store.transaction(async (repo) => {
            await repo.objects.lockNamespace(NAMESPACE);
            await repo.objects.bumpConfigVersion(NAMESPACE, []);
          }),
        ),
      );
      expect((await store.objects.configVersions()).get(NAMESPACE)).toBe(7);
    });

    it('log what each version changed, so a reader at one version learns what to read again for a later one', async () => {
      const store = await open(await backend.fresh());
      expect(await store.objects.changesBetween(NAMESPACE, 0, 0)).toBeUndefined(); // a namespace never changed
      expect(await store.objects.bumpConfigVersion(NAMESPACE, [{ kind: 'Organization', name: 'cascade' }])).toBe(1);
      await store.transaction(async (repo) => {
        await repo.objects.lockNamespace(NAMESPACE);
        await repo.objects.bumpConfigVersion(NAMESPACE, [{ kind: 'Client', name: 'cascade-portal' }]);
        await repo.objects.bumpConfigVersion(NAMESPACE, [
          { kind: 'ClientSecret', name: 'cascade-portal' },
          { kind: 'Organization', name: 'cascade' },
        ]);
      });
      await store.objects.bumpConfigVersion('elsewhere', [{ kind: 'Organization', name: 'forge' }]);
      // A rolled-back change leaves neither a version nor a record.
      await expect(
        store.transaction(async (repo) => {
          await repo.objects.bumpConfigVersion(NAMESPACE, [{ kind: 'Workspace', name: 'blixit' }]);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');

      expect((await store.objects.configVersions()).get(NAMESPACE)).toBe(3);
      expect(await store.objects.changesBetween(NAMESPACE, 0, 3)).toEqual([
        { kind: 'Client', name: 'cascade-portal' },
        { kind: 'ClientSecret', name: 'cascade-portal' },
        { kind: 'Organization', name: 'cascade' },
      ]);
      expect(await store.objects.changesBetween(NAMESPACE, 1, 2)).toEqual([{ kind: 'Client', name: 'cascade-portal' }]);
      expect(await store.objects.changesBetween(NAMESPACE, 3, 3)).toEqual([]);
      expect(await store.objects.changesBetween('elsewhere', 0, 1)).toEqual([{ kind: 'Organization', name: 'forge' }]);
      // A version that names nothing (moved by a release before the log, mid-upgrade): what changed up to it is not known.
      expect(await store.objects.bumpConfigVersion(NAMESPACE, [])).toBe(4);
      expect(await store.objects.changesBetween(NAMESPACE, 2, 4)).toBeUndefined();
      expect(await store.objects.changesBetween(NAMESPACE, 2, 3)).toEqual([
        { kind: 'ClientSecret', name: 'cascade-portal' },
        { kind: 'Organization', name: 'cascade' },
      ]);
    });

    it('keep a bounded log: a reader further behind than it reaches is told to read the namespace whole', async () => {
      const store = await open(await backend.fresh());
      for (let v = 1; v <= CHANGE_LOG_VERSIONS + 256; v++) await store.objects.bumpConfigVersion(NAMESPACE, [{ kind: 'Organization', name: `org-${v}` }]);
      const head = CHANGE_LOG_VERSIONS + 256;
      expect(await store.objects.changesBetween(NAMESPACE, 255, head)).toBeUndefined();
      expect(await store.objects.changesBetween(NAMESPACE, head - 2, head)).toEqual([
        { kind: 'Organization', name: `org-${head - 1}` },
        { kind: 'Organization', name: `org-${head}` },
      ]);
      expect((await store.objects.changesBetween(NAMESPACE, 256, head))?.length).toBe(CHANGE_LOG_VERSIONS);
    });
  });
});
