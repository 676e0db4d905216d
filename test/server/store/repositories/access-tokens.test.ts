/**
 * Conformance of the access-tokens repository: JWT access tokens, which oidc-provider does
 * not keep, recorded so they can be revoked. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import { storeBackends } from '../../../support/store-backends.ts';

const backends = await storeBackends();
const { open } = backends;
const I = '/blixit/cascade';

backends.each('the access-tokens repository', (backend) => {
  it('records a token once with its grant, per issuer', async () => {
    const store = await open(await backend.fresh());
    await store.accessTokens.record(I, 'j1', 'g1', 5000);
    await store.accessTokens.record(I, 'j1', 'g2', 6000);
    await store.accessTokens.record(I, 'j2', null, 5000);
    expect(await store.accessTokens.find(I, 'j1')).toEqual({ grantId: 'g1', revokedAt: null });
    expect(await store.accessTokens.find(I, 'j2')).toEqual({ grantId: null, revokedAt: null });
    expect(await store.accessTokens.find('/blixit', 'j1')).toBeUndefined();
  });

  it('revokes a recorded token, and one never recorded', async () => {
    const store = await open(await backend.fresh());
    await store.accessTokens.record(I, 'j1', 'g1', 5000);
    await store.accessTokens.revoke(I, 'j1', 5000, 1000);
    await store.accessTokens.revoke(I, 'unseen', 5000, 1500);
    expect(await store.accessTokens.find(I, 'j1')).toEqual({ grantId: 'g1', revokedAt: 1000 });
    expect(await store.accessTokens.find(I, 'unseen')).toEqual({ grantId: null, revokedAt: 1500 });
    // Recording it afterwards does not un-revoke it.
    await store.accessTokens.record(I, 'unseen', 'g9', 5000);
    expect(await store.accessTokens.find(I, 'unseen')).toEqual({ grantId: null, revokedAt: 1500 });
  });

  it('deletes the records of expired tokens, oldest first and at most `limit` at a time', async () => {
    const store = await open(await backend.fresh());
    await store.accessTokens.record(I, 'older', null, 500);
    await store.accessTokens.revoke(I, 'old', 1000, 100);
    await store.accessTokens.record(I, 'live', null, 3000);
    expect(await store.accessTokens.deleteExpired(1000, 1)).toBe(1);
    expect(await store.accessTokens.find(I, 'old')).toBeDefined();
    expect(await store.accessTokens.deleteExpired(1000, 10)).toBe(1);
    expect(await store.accessTokens.deleteExpired(1000, 10)).toBe(0);
    expect(await store.accessTokens.find(I, 'live')).toEqual({ grantId: null, revokedAt: null });
  });
});
