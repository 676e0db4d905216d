/**
 * Conformance of the oidc repository: oidc-provider's models and the issuers' and clients'
 * token cutoffs. Every method, on SQLite and on PostgreSQL.
 */
import { describe, expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;

backends.each('the oidc repository', (backend) => {
  describe('ending tokens', () => {
    const path = '/blixit/cascade';
    const model = (clientId: string, grantId?: string) => JSON.stringify({ clientId, accountId: 'ana', ...(grantId ? { grantId } : {}) });

    it("end one client's grants and tokens at one issuer, with a cutoff of its own beside the issuer's", async () => {
      const repo = await open(await backend.fresh());
      await repo.oidc.upsert(path, 'Grant', 'g1', model('web.blixit'), {}, null);
      await repo.oidc.upsert(path, 'RefreshToken', 'r1', model('web.blixit', 'g1'), { grantId: 'g1' }, null);
      await repo.oidc.upsert(path, 'Grant', 'g2', model('other.blixit'), {}, null);
      await repo.oidc.upsert('/blixit', 'Grant', 'g3', model('web.blixit'), {}, null);
      expect(await repo.oidc.revokeClient(path, 'web.blixit', 5000)).toBe(2);
      expect(await repo.oidc.find(path, 'RefreshToken', 'id', 'r1', 0)).toBeUndefined();
      // Another client of the issuer, and the same client_id at another issuer, keep theirs.
      expect(await repo.oidc.find(path, 'Grant', 'id', 'g2', 0)).toBeDefined();
      expect(await repo.oidc.find('/blixit', 'Grant', 'id', 'g3', 0)).toBeDefined();
      expect(await repo.oidc.tokenCutoff(path, 'web.blixit')).toBe(5000);
      expect(await repo.oidc.tokenCutoff(path, 'other.blixit')).toBe(0);
      expect(await repo.oidc.tokenCutoff(path, undefined)).toBe(0);
      expect(await repo.oidc.tokenCutoff('/blixit', 'web.blixit')).toBe(0);
      // The issuer's cutoff (the kill switch) counts for every client; the later of the two wins.
      await repo.oidc.revokeIssuers([path], 7000);
      expect(await repo.oidc.tokenCutoff(path, 'web.blixit')).toBe(7000);
      expect(await repo.oidc.tokenCutoff(path, 'other.blixit')).toBe(7000);
    });
  });

  describe('models', () => {
    const I = '/blixit/cascade';

    it('are upserted and found by id, uid or user code while they have not expired', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'Session', 's1', '{"v":1}', { uid: 'u1' }, 5000);
      await store.oidc.upsert(I, 'DeviceCode', 'd1', '{"v":2}', { grantId: 'g1', userCode: 'ABCD-EFGH' }, null);
      expect(await store.oidc.find(I, 'Session', 'id', 's1', 4999)).toEqual({ payload: '{"v":1}', consumedAt: null });
      expect(await store.oidc.find(I, 'Session', 'uid', 'u1', 4999)).toEqual({ payload: '{"v":1}', consumedAt: null });
      expect(await store.oidc.find(I, 'DeviceCode', 'user_code', 'ABCD-EFGH', 10 ** 13)).toEqual({ payload: '{"v":2}', consumedAt: null });
      expect(await store.oidc.find(I, 'Session', 'id', 's1', 5000)).toBeUndefined();
      expect(await store.oidc.find('/blixit', 'Session', 'id', 's1', 0)).toBeUndefined();
      expect(await store.oidc.find(I, 'Grant', 'id', 's1', 0)).toBeUndefined();
      await store.oidc.upsert(I, 'Session', 's1', '{"v":3}', {}, 9000);
      expect(await store.oidc.find(I, 'Session', 'id', 's1', 5000)).toEqual({ payload: '{"v":3}', consumedAt: null });
      expect(await store.oidc.find(I, 'Session', 'uid', 'u1', 0)).toBeUndefined();
    });

    it('are consumed (and live again when upserted anew) and destroyed', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'AuthorizationCode', 'c1', '{}', {}, null);
      await store.oidc.consume(I, 'AuthorizationCode', 'c1', 1234);
      expect(await store.oidc.find(I, 'AuthorizationCode', 'id', 'c1', 0)).toEqual({ payload: '{}', consumedAt: 1234 });
      await store.oidc.upsert(I, 'AuthorizationCode', 'c1', '{}', {}, null);
      expect(await store.oidc.find(I, 'AuthorizationCode', 'id', 'c1', 0)).toEqual({ payload: '{}', consumedAt: null });
      await store.oidc.destroy(I, 'AuthorizationCode', 'c1');
      expect(await store.oidc.find(I, 'AuthorizationCode', 'id', 'c1', 0)).toBeUndefined();
    });

    it('are revoked by grant, leaving other grants and issuers alone', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'RefreshToken', 'r1', '{}', { grantId: 'g1' }, null);
      await store.oidc.upsert(I, 'AccessToken', 'a1', '{}', { grantId: 'g1' }, null);
      await store.oidc.upsert(I, 'RefreshToken', 'r2', '{}', { grantId: 'g2' }, null);
      await store.oidc.upsert('/blixit', 'RefreshToken', 'r3', '{}', { grantId: 'g1' }, null);
      expect(await store.oidc.revokeGrant(I, 'g1')).toBe(2);
      expect(await store.oidc.find(I, 'RefreshToken', 'id', 'r2', 0)).toBeDefined();
      expect(await store.oidc.find('/blixit', 'RefreshToken', 'id', 'r3', 0)).toBeDefined();
      expect(await store.oidc.revokeGrant(I, 'g1')).toBe(0);
    });

    it('are all revoked at the given issuers but their clients, which also get a cutoff', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'Client', 'web', '{}', {}, null);
      await store.oidc.upsert(I, 'Session', 's1', '{}', {}, null);
      await store.oidc.upsert(I, 'Grant', 'g1', '{}', {}, null);
      await store.oidc.upsert('/blixit/forge', 'Grant', 'g2', '{}', {}, null);
      expect(await store.oidc.revokeIssuers([I, '/blixit/pinnacle'], 4000)).toBe(2);
      expect(await store.oidc.find(I, 'Client', 'id', 'web', 0)).toBeDefined();
      expect(await store.oidc.find(I, 'Session', 'id', 's1', 0)).toBeUndefined();
      expect(await store.oidc.find('/blixit/forge', 'Grant', 'id', 'g2', 0)).toBeDefined();
      expect(await store.oidc.tokenCutoff(I, undefined)).toBe(4000);
      expect(await store.oidc.tokenCutoff('/blixit/pinnacle', 'web')).toBe(4000);
      expect(await store.oidc.tokenCutoff('/blixit/forge', undefined)).toBe(0);
      // A later kill switch moves the cutoff.
      await store.oidc.revokeIssuers([I], 6000);
      expect(await store.oidc.tokenCutoff(I, undefined)).toBe(6000);
    });

    it("are revoked by account at the given issuers, whoever's else they are staying", async () => {
      const store = await open(await backend.fresh());
      const of = (accountId: string) => JSON.stringify({ accountId });
      await store.oidc.upsert(I, 'Session', 's-ana', of('ana'), {}, null);
      await store.oidc.upsert(I, 'Grant', 'g-ana', of('ana'), {}, null);
      await store.oidc.upsert(I, 'Grant', 'g-bo', of('bo'), {}, null);
      await store.oidc.upsert('/blixit/forge', 'Grant', 'g-ana2', of('ana'), {}, null);
      await store.oidc.upsert(I, 'Client', 'c', of('ana'), {}, null);
      expect(await store.oidc.revokeAccounts([I], [])).toBe(0);
      expect(await store.oidc.revokeAccounts([I], ['ana', 'cy'])).toBe(2);
      expect(await store.oidc.find(I, 'Grant', 'id', 'g-bo', 0)).toBeDefined();
      expect(await store.oidc.find('/blixit/forge', 'Grant', 'id', 'g-ana2', 0)).toBeDefined();
      expect(await store.oidc.find(I, 'Client', 'id', 'c', 0)).toBeDefined();
    });

    it('are found by id at whichever issuer holds them, unless consumed or expired', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'AccessToken', 'opaque', '{"a":1}', {}, 5000);
      await store.oidc.upsert(I, 'AccessToken', 'used', '{}', {}, null);
      await store.oidc.consume(I, 'AccessToken', 'used', 1);
      expect(await store.oidc.findAnywhere('AccessToken', 'opaque', 4999)).toEqual({ issuer: I, payload: '{"a":1}' });
      expect(await store.oidc.findAnywhere('AccessToken', 'opaque', 5000)).toBeUndefined();
      expect(await store.oidc.findAnywhere('RefreshToken', 'opaque', 0)).toBeUndefined();
      expect(await store.oidc.findAnywhere('AccessToken', 'used', 0)).toBeUndefined();
    });

    it('are deleted once expired, oldest first and at most `limit` at a time, those without expiry staying', async () => {
      const store = await open(await backend.fresh());
      await store.oidc.upsert(I, 'Session', 'old', '{}', {}, 1000);
      await store.oidc.upsert(I, 'Session', 'older', '{}', {}, 500);
      await store.oidc.upsert(I, 'Session', 'live', '{}', {}, 3000);
      await store.oidc.upsert(I, 'Grant', 'forever', '{}', {}, null);
      expect(await store.oidc.deleteExpired(2000, 1)).toBe(1);
      expect(await store.oidc.find(I, 'Session', 'id', 'old', 0)).toBeDefined();
      expect(await store.oidc.deleteExpired(2000, 10)).toBe(1);
      expect(await store.oidc.deleteExpired(2000, 10)).toBe(0);
      expect(await store.oidc.find(I, 'Session', 'id', 'live', 0)).toBeDefined();
      expect(await store.oidc.find(I, 'Grant', 'id', 'forever', 0)).toBeDefined();
    });
  });
});
