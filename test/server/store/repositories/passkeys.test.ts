/**
 * Conformance of the passkeys repository: users' WebAuthn credentials, each of one user of one
 * organization, and the signature counter that moves only forward. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import type { PasskeyRecord } from '../../../../server/store/index.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

const passkey = (id: string, fields: Partial<PasskeyRecord> = {}): PasskeyRecord => ({
  id,
  namespace: NAMESPACE,
  organization: 'cascade',
  userId: 'ana',
  rpId: 'localhost',
  publicKey: `pk-${id}`,
  counter: 0,
  transports: ['internal'],
  name: `Passkey ${id}`,
  aaguid: '00000000-0000-0000-0000-000000000000',
  deviceType: 'singleDevice',
  backedUp: false,
  createdAt: 1000,
  lastUsedAt: null,
  ...fields,
});

backends.each('the passkeys repository', (backend) => {
  describe('enrolment', () => {
    it('stores a credential once, whoever tries to enrol its ID again', async () => {
      const store = await open(await backend.fresh());
      const first = passkey('c1', { counter: 7, transports: ['usb', 'nfc'], deviceType: 'multiDevice', backedUp: true });
      expect(await store.passkeys.add(first)).toBe(true);
      expect(await store.passkeys.add(passkey('c1', { userId: 'mallory', organization: 'forge' }))).toBe(false);
      expect(await store.passkeys.find('c1')).toEqual(first);
      expect(await store.passkeys.find('unknown')).toBeUndefined();
    });

    it("lists and counts one user's passkeys, oldest first, and nobody else's", async () => {
      const store = await open(await backend.fresh());
      await store.passkeys.add(passkey('late', { createdAt: 3000 }));
      await store.passkeys.add(passkey('early', { createdAt: 2000 }));
      await store.passkeys.add(passkey('ben', { userId: 'ben' }));
      await store.passkeys.add(passkey('elsewhere', { namespace: 'other' }));
      expect((await store.passkeys.list(NAMESPACE, 'ana')).map((p) => p.id)).toEqual(['early', 'late']);
      expect(await store.passkeys.count(NAMESPACE, 'ana')).toBe(2);
      expect(await store.passkeys.count(NAMESPACE, 'nobody')).toBe(0);
    });
  });

  describe('the user manages them', () => {
    it('renames and removes only their own', async () => {
      const store = await open(await backend.fresh());
      await store.passkeys.add(passkey('c1'));
      expect(await store.passkeys.rename(NAMESPACE, 'ben', 'c1', 'Stolen')).toBe(false);
      expect(await store.passkeys.rename(NAMESPACE, 'ana', 'c1', 'Laptop')).toBe(true);
      expect((await store.passkeys.find('c1'))?.name).toBe('Laptop');
      expect(await store.passkeys.remove(NAMESPACE, 'ben', 'c1')).toBe(false);
      expect(await store.passkeys.remove('other', 'ana', 'c1')).toBe(false);
      expect(await store.passkeys.remove(NAMESPACE, 'ana', 'c1')).toBe(true);
      expect(await store.passkeys.find('c1')).toBeUndefined();
    });

    it('removes all of a user at once', async () => {
      const store = await open(await backend.fresh());
      for (const id of ['a', 'b']) await store.passkeys.add(passkey(id));
      await store.passkeys.add(passkey('c', { userId: 'ben' }));
      expect(await store.passkeys.removeAll(NAMESPACE, 'ana')).toBe(2);
      expect(await store.passkeys.count(NAMESPACE, 'ben')).toBe(1);
    });
  });

  describe('the signature counter', () => {
    it('moves forward with each use and refuses to go back or stand still', async () => {
      const store = await open(await backend.fresh());
      await store.passkeys.add(passkey('c1', { counter: 5 }));
      expect(await store.passkeys.recordUse('c1', 6, 2000)).toBe(true);
      expect(await store.passkeys.find('c1')).toMatchObject({ counter: 6, lastUsedAt: 2000 });
      expect(await store.passkeys.recordUse('c1', 6, 3000)).toBe(false);
      expect(await store.passkeys.recordUse('c1', 2, 3000)).toBe(false);
      expect(await store.passkeys.find('c1')).toMatchObject({ counter: 6, lastUsedAt: 2000 });
    });

    it('stays at 0 for an authenticator that keeps no counter, but never returns to 0', async () => {
      const store = await open(await backend.fresh());
      await store.passkeys.add(passkey('synced'));
      expect(await store.passkeys.recordUse('synced', 0, 2000)).toBe(true);
      expect(await store.passkeys.recordUse('synced', 0, 2500)).toBe(true);
      expect(await store.passkeys.recordUse('synced', 1, 3000)).toBe(true);
      expect(await store.passkeys.recordUse('synced', 0, 4000)).toBe(false);
      expect(await store.passkeys.recordUse('unknown', 9, 4000)).toBe(false);
    });
  });
});
