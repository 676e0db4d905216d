/**
 * Conformance of the keys repository: each namespace's signing keys, private halves sealed
 * by the caller. Every method, on SQLite and on PostgreSQL.
 */
import { expect, it } from '@jest/globals';
import type { SigningKeyRow } from '../../../../server/store/index.ts';
import { storeBackends } from '../../../support/store-backends.ts';
import { NAMESPACE } from '../../../support/store-fixtures.ts';

const backends = await storeBackends();
const { open } = backends;

const key = (kid: string, createdAt: number, activatesAt: number): SigningKeyRow => ({
  kid,
  alg: 'ES256',
  sealedPrivateJwk: `sealed-${kid}`,
  publicJwk: { kty: 'EC', crv: 'P-256', kid },
  createdAt,
  activatesAt,
  retiredAt: null,
  expiresAt: null,
});

backends.each('the keys repository', (backend) => {
  it('inserts keys and lists those of one namespace, latest to activate first', async () => {
    const store = await open(await backend.fresh());
    await store.keys.insert(NAMESPACE, key('k1', 1000, 1000));
    await store.keys.insert(NAMESPACE, key('k3', 3000, 5000));
    await store.keys.insert(NAMESPACE, key('k2', 2000, 5000));
    await store.keys.insert('elsewhere', key('k4', 1000, 1000));
    expect((await store.keys.list(NAMESPACE)).map((k) => k.kid)).toEqual(['k3', 'k2', 'k1']);
    expect((await store.keys.list(NAMESPACE))[2]).toEqual(key('k1', 1000, 1000));
    expect(await store.keys.list('nobody')).toEqual([]);
  });

  it('retires a key once, and deletes the keys of one namespace that have expired', async () => {
    const store = await open(await backend.fresh());
    await store.keys.insert(NAMESPACE, key('k1', 1000, 1000));
    await store.keys.insert(NAMESPACE, key('k2', 2000, 2000));
    await store.keys.insert('elsewhere', { ...key('k3', 1000, 1000), retiredAt: 1500, expiresAt: 2500 });
    await store.keys.retire('k1', 2000, 3000);
    await store.keys.retire('k1', 2500, 9000);
    expect((await store.keys.list(NAMESPACE)).find((k) => k.kid === 'k1')).toMatchObject({ retiredAt: 2000, expiresAt: 3000 });
    expect(await store.keys.deleteExpired(NAMESPACE, 2999)).toBe(0);
    expect(await store.keys.deleteExpired(NAMESPACE, 3000)).toBe(1);
    expect((await store.keys.list(NAMESPACE)).map((k) => k.kid)).toEqual(['k2']);
    expect(await store.keys.list('elsewhere')).toHaveLength(1);
  });
});
