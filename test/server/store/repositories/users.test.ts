/**
 * Conformance of the users repository: users (runtime state, never deleted by reconciliation)
 * and their one-time links. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import type { UserRecord } from '../../../../server/store/index.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

function user(id: string, organization: string, extra: Partial<UserRecord> = {}): UserRecord {
  return {
    namespace: NAMESPACE,
    id,
    organization,
    connection: 'directory',
    subject: id,
    email: `${id}@${organization}.example`,
    declaredAs: null,
    profile: { name: id },
    roles: [],
    active: true,
    passwordHash: null,
    createdAt: 1000,
    updatedAt: 1000,
    lastLoginAt: null,
    ...extra,
  };
}

backends.each('the users repository', (backend) => {
  describe('users', () => {
    it('are upserted and found by id, keeping their connection, subject, password and creation time', async () => {
      const store = await open(await backend.fresh());
      const ana = user('ana', 'cascade', { roles: ['admin'], passwordHash: 'hash-1', declaredAs: 'ana', profile: { name: 'Ana', attributes: { team: 'red' } } });
      await store.users.upsert(ana);
      expect(await store.users.find(NAMESPACE, 'ana')).toEqual(ana);
      expect(await store.users.find(NAMESPACE, 'bo')).toBeUndefined();
      expect(await store.users.find('elsewhere', 'ana')).toBeUndefined();

      await store.users.upsert(user('ana', 'forge', { connection: 'okta', subject: 'other', passwordHash: 'hash-2', createdAt: 9, updatedAt: 2000, active: false, roles: ['viewer'] }));
      expect(await store.users.find(NAMESPACE, 'ana')).toEqual({
        ...ana,
        organization: 'forge',
        email: 'ana@forge.example',
        declaredAs: null,
        profile: { name: 'ana' },
        roles: ['viewer'],
        active: false,
        updatedAt: 2000,
      });
    });

    it('are found by email, in one organization or the whole namespace, and by upstream subject', async () => {
      const store = await open(await backend.fresh());
      await store.users.upsert(user('ana', 'cascade', { email: 'ana@shared.example', connection: 'okta', subject: 'sub-1' }));
      await store.users.upsert(user('ana2', 'forge', { email: 'ana@shared.example' }));
      const ids = (users: UserRecord[]) => users.map((u) => u.id).sort();
      expect(ids(await store.users.findByEmail(NAMESPACE, 'ana@shared.example'))).toEqual(['ana', 'ana2']);
      expect(ids(await store.users.findByEmail(NAMESPACE, 'ana@shared.example', 'forge'))).toEqual(['ana2']);
      expect(await store.users.findByEmail('elsewhere', 'ana@shared.example')).toEqual([]);
      expect((await store.users.findBySubject(NAMESPACE, 'okta', 'sub-1'))?.id).toBe('ana');
      expect(await store.users.findBySubject(NAMESPACE, 'directory', 'sub-1')).toBeUndefined();
    });

    it('are listed by organization then id, of all or of the named organizations', async () => {
      const store = await open(await backend.fresh());
      for (const [id, org] of [
        ['cy', 'forge'],
        ['bo', 'cascade'],
        ['ana', 'forge'],
        ['di', 'pinnacle'],
      ] as const)
        await store.users.upsert(user(id, org));
      const ids = (users: UserRecord[]) => users.map((u) => `${u.organization}/${u.id}`);
      expect(ids(await store.users.list(NAMESPACE))).toEqual(['cascade/bo', 'forge/ana', 'forge/cy', 'pinnacle/di']);
      expect(ids(await store.users.list(NAMESPACE, ['forge', 'pinnacle']))).toEqual(['forge/ana', 'forge/cy', 'pinnacle/di']);
      expect(await store.users.list(NAMESPACE, [])).toEqual([]);
      expect(await store.users.list('elsewhere')).toEqual([]);
    });

    it('are deactivated and reactivated, saying whether anything changed', async () => {
      const store = await open(await backend.fresh());
      await store.users.upsert(user('ana', 'cascade'));
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 2000)).toBe(true);
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 3000)).toBe(false);
      expect(await store.users.find(NAMESPACE, 'ana')).toMatchObject({ active: false, updatedAt: 2000 });
      expect(await store.users.setActive(NAMESPACE, 'ana', true, 4000)).toBe(true);
      expect(await store.users.setActive(NAMESPACE, 'nobody', true, 4000)).toBe(false);
    });

    it("remember who deactivated them: a provisioning connection's mark, which the platform's own deactivation overrides", async () => {
      const store = await open(await backend.fresh());
      await store.users.upsert(user('ana', 'cascade'));
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 2000, 'scim:okta')).toBe(true);
      expect(await store.users.find(NAMESPACE, 'ana')).toMatchObject({ active: false, deactivatedBy: 'scim:okta' });
      // Already inactive: nothing changes but the mark, which becomes the platform's.
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 3000)).toBe(false);
      expect((await store.users.find(NAMESPACE, 'ana'))!.deactivatedBy).toBeUndefined();
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 3000, 'scim:okta')).toBe(false);
      expect((await store.users.find(NAMESPACE, 'ana'))!.deactivatedBy).toBeUndefined();
      expect(await store.users.setActive(NAMESPACE, 'ana', true, 4000)).toBe(true);
      expect(await store.users.setActive(NAMESPACE, 'ana', false, 5000, 'scim:okta')).toBe(true);
      expect(await store.users.setActive(NAMESPACE, 'ana', true, 6000)).toBe(true);
      expect((await store.users.find(NAMESPACE, 'ana'))!.deactivatedBy).toBeUndefined();
    });

    it('are erased with their one-time links, saying whether there was one', async () => {
      const store = await open(await backend.fresh());
      await store.users.upsert(user('ana', 'cascade'));
      await store.users.upsert(user('bo', 'cascade'));
      await store.users.putLink('h-ana', NAMESPACE, 'ana', 'reset', 5000);
      await store.users.putLink('h-bo', NAMESPACE, 'bo', 'reset', 5000);
      expect(await store.users.erase(NAMESPACE, 'ana')).toBe(true);
      expect(await store.users.erase(NAMESPACE, 'ana')).toBe(false);
      expect(await store.users.find(NAMESPACE, 'ana')).toBeUndefined();
      expect(await store.users.peekLink('h-ana', 'reset', 4000)).toBeUndefined();
      expect(await store.users.peekLink('h-bo', 'reset', 4000)).toEqual({ namespace: NAMESPACE, userId: 'bo' });
      expect(await store.users.find(NAMESPACE, 'bo')).toBeDefined();
    });

    it('get a new profile, password and last sign-in time', async () => {
      const store = await open(await backend.fresh());
      await store.users.upsert(user('ana', 'cascade'));
      await store.users.setProfile(NAMESPACE, 'ana', { name: 'Ana', upstream: { groups: ['a'] } }, 2000);
      await store.users.setPassword(NAMESPACE, 'ana', 'hash-2', 3000);
      await store.users.touchLogin(NAMESPACE, 'ana', 4000);
      expect(await store.users.find(NAMESPACE, 'ana')).toMatchObject({ profile: { name: 'Ana', upstream: { groups: ['a'] } }, passwordHash: 'hash-2', updatedAt: 3000, lastLoginAt: 4000 });
    });
  });

  describe('one-time links', () => {
    it('are peeked at without being used, used once, and refused once expired or for another purpose', async () => {
      const store = await open(await backend.fresh());
      await store.users.putLink('h1', NAMESPACE, 'ana', 'reset', 5000);
      expect(await store.users.peekLink('h1', 'reset', 4000)).toEqual({ namespace: NAMESPACE, userId: 'ana' });
      expect(await store.users.peekLink('h1', 'invite', 4000)).toBeUndefined();
      expect(await store.users.useLink('h1', 'invite', 4000)).toBeUndefined();
      expect(await store.users.useLink('h1', 'reset', 5000)).toBeUndefined();
      expect(await store.users.useLink('h1', 'reset', 4000)).toEqual({ namespace: NAMESPACE, userId: 'ana' });
      expect(await store.users.useLink('h1', 'reset', 4000)).toBeUndefined();
      expect(await store.users.peekLink('h1', 'reset', 4000)).toBeUndefined();
      expect(await store.users.useLink('unknown', 'reset', 0)).toBeUndefined();
    });

    it('are retired when a newer one replaces them, for that user and purpose only', async () => {
      const store = await open(await backend.fresh());
      await store.users.putLink('old', NAMESPACE, 'ana', 'reset', 5000);
      await store.users.putLink('invite', NAMESPACE, 'ana', 'invite', 5000);
      await store.users.putLink('bo', NAMESPACE, 'bo', 'reset', 5000);
      await store.users.retireLinks(NAMESPACE, 'ana', 'reset', 1000);
      expect(await store.users.useLink('old', 'reset', 1000)).toBeUndefined();
      expect(await store.users.peekLink('invite', 'invite', 1000)).toEqual({ namespace: NAMESPACE, userId: 'ana' });
      expect(await store.users.peekLink('bo', 'reset', 1000)).toEqual({ namespace: NAMESPACE, userId: 'bo' });
    });
  });
});
