/**
 * Conformance of the SCIM repository: connections' tokens (hashes only) and activity, the SCIM
 * attributes of provisioned users, groups and memberships. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import type { ScimUserRecord } from '../../../../server/store/index.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

const scimUser = (userId: string, connection: string, extra: Partial<ScimUserRecord> = {}): ScimUserRecord => ({
  namespace: NAMESPACE,
  userId,
  connection,
  userName: `${userId}@forge.example`,
  externalId: `ext-${userId}`,
  resource: { displayName: userId },
  createdAt: 1000,
  updatedAt: 1000,
  ...extra,
});
const group = (id: string, connection: string, displayName: string, createdAt = 1000) => ({ namespace: NAMESPACE, id, connection, displayName, externalId: null, createdAt, updatedAt: createdAt });

backends.each('the SCIM repository', (backend) => {
  describe('tokens', () => {
    it('are kept per connection as a hash, replaced on rotation, listed per organization and deleted', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putToken({ namespace: NAMESPACE, connection: 'forge-okta', organization: 'forge', tokenHash: 'aa', createdAt: 1000 });
      await store.scim.putToken({ namespace: NAMESPACE, connection: 'cascade-entra', organization: 'cascade', tokenHash: 'bb', createdAt: 1000 });
      await store.scim.putToken({ namespace: NAMESPACE, connection: 'forge-okta', organization: 'forge', tokenHash: 'cc', createdAt: 2000 });
      expect(await store.scim.tokens(NAMESPACE, 'forge')).toEqual([{ namespace: NAMESPACE, connection: 'forge-okta', organization: 'forge', tokenHash: 'cc', createdAt: 2000 }]);
      expect((await store.scim.tokens(NAMESPACE, 'cascade')).map((t) => t.tokenHash)).toEqual(['bb']);
      expect(await store.scim.tokens('elsewhere', 'forge')).toEqual([]);
      expect((await store.scim.token(NAMESPACE, 'forge-okta'))?.tokenHash).toBe('cc');
      expect(await store.scim.deleteToken(NAMESPACE, 'forge-okta')).toBe(true);
      expect(await store.scim.deleteToken(NAMESPACE, 'forge-okta')).toBe(false);
      expect(await store.scim.token(NAMESPACE, 'forge-okta')).toBeUndefined();
    });

    it('refuse a hash another connection already has', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putToken({ namespace: NAMESPACE, connection: 'a', organization: 'forge', tokenHash: 'same', createdAt: 1 });
      await expect(store.scim.putToken({ namespace: NAMESPACE, connection: 'b', organization: 'forge', tokenHash: 'same', createdAt: 1 })).rejects.toThrow();
    });
  });

  describe('activity', () => {
    it('counts requests and errors (status 400 and above) and keeps the last', async () => {
      const store = await open(await backend.fresh());
      expect(await store.scim.activity(NAMESPACE, 'forge-okta')).toBeUndefined();
      await store.scim.recordRequest(NAMESPACE, 'forge-okta', 201, 1000);
      await store.scim.recordRequest(NAMESPACE, 'forge-okta', 422, 2000);
      await store.scim.recordRequest(NAMESPACE, 'forge-okta', 200, 3000);
      expect(await store.scim.activity(NAMESPACE, 'forge-okta')).toEqual({ lastRequestAt: 3000, lastStatus: 200, requests: 3, errors: 1 });
    });
  });

  describe('users', () => {
    it('are stored with their attributes, found by id and by userName within a connection, listed in creation order and updated', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putUser(scimUser('u2', 'forge-okta', { createdAt: 2000 }));
      await store.scim.putUser(scimUser('u1', 'forge-okta', { resource: { name: { givenName: 'Lena' } } }));
      await store.scim.putUser(scimUser('u3', 'other'));
      expect(await store.scim.user(NAMESPACE, 'u1')).toEqual(scimUser('u1', 'forge-okta', { resource: { name: { givenName: 'Lena' } } }));
      expect((await store.scim.userByName(NAMESPACE, 'forge-okta', 'u2@forge.example'))?.userId).toBe('u2');
      expect(await store.scim.userByName(NAMESPACE, 'other', 'u2@forge.example')).toBeUndefined();
      expect((await store.scim.users(NAMESPACE, 'forge-okta')).map((u) => u.userId)).toEqual(['u1', 'u2']);
      await store.scim.putUser(scimUser('u1', 'forge-okta', { userName: 'lena@forge.example', externalId: null, resource: {}, updatedAt: 5000 }));
      expect(await store.scim.user(NAMESPACE, 'u1')).toMatchObject({ userName: 'lena@forge.example', externalId: null, resource: {}, createdAt: 1000, updatedAt: 5000 });
    });

    it('refuse a second user of one userName in one connection', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putUser(scimUser('u1', 'forge-okta'));
      await expect(store.scim.putUser(scimUser('u2', 'forge-okta', { userName: 'u1@forge.example' }))).rejects.toThrow();
    });

    it('are deleted with their memberships', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putUser(scimUser('u1', 'forge-okta'));
      await store.scim.putGroup(group('g1', 'forge-okta', 'Buyers'));
      await store.scim.addMembers(NAMESPACE, 'g1', ['u1', 'u2']);
      expect(await store.scim.deleteUser(NAMESPACE, 'u1')).toBe(true);
      expect(await store.scim.deleteUser(NAMESPACE, 'u1')).toBe(false);
      expect(await store.scim.members(NAMESPACE, 'g1')).toEqual(['u2']);
    });
  });

  describe('groups', () => {
    it('are stored, renamed, listed per connection in creation order, and deleted with their memberships', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putGroup(group('g2', 'forge-okta', 'Buyers', 2000));
      await store.scim.putGroup(group('g1', 'forge-okta', 'Gatehouse Admins'));
      await store.scim.putGroup(group('g3', 'other', 'Buyers'));
      expect((await store.scim.groups(NAMESPACE, 'forge-okta')).map((g) => g.id)).toEqual(['g1', 'g2']);
      await store.scim.putGroup({ ...group('g2', 'forge-okta', 'Purchasing', 2000), updatedAt: 3000 });
      expect(await store.scim.group(NAMESPACE, 'g2')).toMatchObject({ displayName: 'Purchasing', createdAt: 2000, updatedAt: 3000 });
      await store.scim.addMembers(NAMESPACE, 'g2', ['u1']);
      expect(await store.scim.deleteGroup(NAMESPACE, 'g2')).toBe(true);
      expect(await store.scim.group(NAMESPACE, 'g2')).toBeUndefined();
      expect(await store.scim.members(NAMESPACE, 'g2')).toEqual([]);
      await expect(store.scim.putGroup(group('g4', 'forge-okta', 'Gatehouse Admins'))).rejects.toThrow();
    });

    it('gain and lose members once each, and say which groups a user is in', async () => {
      const store = await open(await backend.fresh());
      await store.scim.putGroup(group('g1', 'forge-okta', 'Gatehouse Admins'));
      await store.scim.putGroup(group('g2', 'forge-okta', 'Buyers'));
      expect(await store.scim.addMembers(NAMESPACE, 'g1', ['u1', 'u2', 'u1'])).toBe(2);
      expect(await store.scim.addMembers(NAMESPACE, 'g1', ['u2'])).toBe(0);
      await store.scim.addMembers(NAMESPACE, 'g2', ['u1']);
      expect(await store.scim.members(NAMESPACE, 'g1')).toEqual(['u1', 'u2']);
      expect(await store.scim.groupsOf(NAMESPACE, 'u1')).toEqual([
        { id: 'g2', displayName: 'Buyers' },
        { id: 'g1', displayName: 'Gatehouse Admins' },
      ]);
      expect(await store.scim.removeMembers(NAMESPACE, 'g1', ['u1', 'nobody'])).toBe(1);
      expect(await store.scim.members(NAMESPACE, 'g1')).toEqual(['u2']);
      await store.scim.clearMembers(NAMESPACE, 'g1');
      expect(await store.scim.members(NAMESPACE, 'g1')).toEqual([]);
      expect(await store.scim.groupsOf('elsewhere', 'u1')).toEqual([]);
      await store.scim.addMembers(NAMESPACE, 'g1', ['u3']);
      await store.scim.putGroup(group('g9', 'other', 'Elsewhere'));
      await store.scim.addMembers(NAMESPACE, 'g9', ['u1']);
      expect(await store.scim.memberships(NAMESPACE, 'forge-okta')).toEqual([
        { userId: 'u1', id: 'g2', displayName: 'Buyers' },
        { userId: 'u3', id: 'g1', displayName: 'Gatehouse Admins' },
      ]);
    });
  });
});
